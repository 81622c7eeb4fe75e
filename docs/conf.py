"""Sphinx configuration of the hdexpr docs site (`make docs`).

Sources are the notebooks of `nbs/` as processed by `docs/proc_nbs.py` (into build/docs/src);
myst-nb executes them (cells flagged with settings.ini's `tst_flags` are skipped) and renders
their outputs. See CONTRIBUTING.md, "Docs". Quarto users: `nbdev_docs` still uses nbs/_quarto.yml.
"""
import os

from nbdev.config import get_config

cfg = get_config()
ROOT = cfg.config_path
BUILD = ROOT / 'build' / 'docs'

project = cfg.title
author = cfg.author
copyright = cfg.copyright
release = version = cfg.version

extensions = ['myst_nb']
root_doc = 'index'
exclude_patterns = ['.ipynb_checkpoints', '**/.ipynb_checkpoints']
highlight_language = 'none'   # a markdown fence without a language is shown as plain text, as Quarto does
suppress_warnings = ['myst.header']   # notebooks may skip a heading level, e.g. a show_doc's ### under a #

# --- myst-nb: execute the processed notebooks -------------------------------------------------
nb_execution_mode = os.environ.get('HDEXPR_DOCS_EXEC', 'cache')   # 'cache': rerun a notebook only when its code changed
nb_execution_cache_path = str(BUILD / 'jupyter_cache')
nb_execution_in_temp = True          # files a notebook writes to its cwd land in a temporary folder
nb_execution_timeout = 900           # seconds per cell
nb_execution_raise_on_error = False  # a failing notebook is a warning (with its traceback), and -W fails the build
nb_execution_show_tb = True          # after every page was tried
nb_merge_streams = True
nb_render_markdown_format = 'myst'   # show_doc's markdown (tables, fenced code) is parsed as MyST
nb_mime_priority_overrides = [('html', 'text/latex', None)]   # no MathJax from a CDN for LaTeX reprs
nb_output_stderr = 'show'
myst_enable_extensions = ['colon_fence', 'deflist', 'attrs_inline', 'strikethrough']
myst_heading_anchors = 3

# --- HTML ----------------------------------------------------------------------------------------
html_theme = 'sphinx_book_theme'
html_title = cfg.title
html_static_path = ['_static']
html_favicon = '_static/favicon.svg'
html_css_files = ['hdexpr.css']
html_show_sourcelink = False
html_copy_source = False
html_context = {'default_mode': 'light'}   # pydata-sphinx-theme logs a console error without it
html_theme_options = {
    'repository_url': cfg.git_url,
    'repository_branch': cfg.branch,
    'path_to_docs': cfg.nbs_path.relative_to(ROOT).as_posix(),
    'use_repository_button': True,
    'use_download_button': False,
    'show_toc_level': 2,
    'home_page_in_toc': True,
}
