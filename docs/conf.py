"""Sphinx configuration of the hdexpr docs site (`make docs`).

Sources are the notebooks of `nbs/` as processed by `docs/proc_nbs.py` (into build/docs/src);
myst-nb executes them (cells flagged with settings.ini's `tst_flags` are skipped) and renders
their outputs. See CONTRIBUTING.md, "Docs". Quarto users: `nbdev_docs` still uses nbs/_quarto.yml.
"""
import os
from pathlib import Path

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

# --- parallel execution: one page per task -------------------------------------------------------
# Sphinx reads (and myst-nb executes) pages in chunks of ~14 per process: on two cores one process
# could sit idle while the other works through a chunk of slow notebooks. One page per task keeps
# both cores busy to the end. The pages are ranked slowest first (by the seconds the cache recorded
# for each last time; without a record, the highest notebook number first), but Sphinx's
# ParallelTasks starts only the first two as ranked and the waiting ones last-added first, so the
# rest run from the fastest up. Handing them over in start order was tried (d46c34d): it saved
# no CI time, and one of its four CI runs failed in jupyter-cache (a record without its notebook).
import sphinx.builders  # noqa: E402


def _slowest_first(docnames, nproc, maxbatch=10):
    from jupyter_cache import get_cache
    seconds = {}
    if (BUILD / 'jupyter_cache').exists():
        for r in get_cache(BUILD / 'jupyter_cache').list_cache_records():
            if Path(r.uri).is_relative_to(BUILD / 'src'):
                seconds[Path(r.uri).relative_to(BUILD / 'src').with_suffix('').as_posix()] = (r.data or {}).get('execution_seconds', 0)
    number = {p.stem.split('_', 1)[1]: int(p.stem.split('_', 1)[0]) for p in cfg.nbs_path.glob('[0-9]*_*.ipynb')}
    return [[d] for d in sorted(docnames, key=lambda d: (-seconds.get(d, 1e9), -number.get(d, 0)))]


sphinx.builders.make_chunks = _slowest_first

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
