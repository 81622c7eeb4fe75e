"""nbs/ -> Sphinx + myst-nb sources: nbdev's docs processing, without Quarto.

`nbdev_proc_nbs` cannot be used as is: it installs Quarto (and pip-installs the package)
when the `quarto` binary is missing, runs import cells on their own to render `show_doc`
(which fails for cells mixing imports and code) and deletes exported and hidden cells, so
the processed notebook no longer runs. This script applies the same nbdev processors
(`add_show_docs`, `hide_line`, `filter_stream_`, `rm_header_dash`, `clean_magics`,
`add_links`, `mv_exports`, ...) and turns the directives that Quarto would act on into the
cell tags myst-nb understands, keeping every cell so that myst-nb can execute the notebook:

| in the notebook                        | tag(s) for myst-nb                |
|----------------------------------------|-----------------------------------|
| `#| export`, `exporti`, `hide`, `default_exp` | `remove-cell` (runs, not shown) |
| `#| exports`                           | shown, after its `show_doc`      |
| `#| echo: false` / `output: false` / `include: false` | `remove-input` / `remove-output` / `remove-cell` |
| `#| code-fold: true|show`             | `hide-input`                      |
| `#| eval: false`, a `tst_flags` flag (`#| slow`), `nbdev_export()` | `skip-execution` |
| `show_doc(...)` (added for exported defs) | `remove-input`, `nbdev-show-doc` |
| frontmatter `skip_exec: true`          | notebook not executed             |

Directive comments are removed from the shown source. Pages get nbdev's names (`03_visium_hd.ipynb`
-> `visium.html`, as the Quarto site and nbdev's doc links have them); the home page
(`index.ipynb`) gets a hidden toctree listing the other notebooks in file order, so a new
notebook in `nbs/` is picked up with no configuration.

Images the notebooks link to live in `nbs/images/` and are copied beside the pages.

Usage: python docs/proc_nbs.py [DEST]   (default build/docs/src; docs/build.py runs it). A page whose
content did not change is not rewritten (Sphinx then skips it); pages of removed notebooks are deleted.
"""
import filecmp
import hashlib
import re
import shutil
import sys
from pathlib import Path

from execnb.nbio import mk_cell, read_nb, write_nb
from nbdev.config import get_config
from nbdev.doclinks import _nbpath2html, nbglob
from nbdev.frontmatter import _fm2dict, _md2dict
from nbdev.process import NBProcessor, Processor
from nbdev.processors import (add_links, add_show_docs, ai_magics, clean_magics, filter_stream_, hide_line,
                              mv_exports, populate_language, rm_header_dash, strip_ansi, strip_hidden_metadata)

HIDDEN = {'export', 'exporti', 'hide', 'default_exp'}   # nbdev's rm_export + hide_
SHOW_DOC_TAG = 'nbdev-show-doc'
KERNELSPEC = {'name': 'python3', 'display_name': 'Python 3 (ipykernel)', 'language': 'python'}
# First cell of every executed page (not shown): nbdev's show_doc, its Quarto-flavoured markdown
# made MyST (no `---` rule, which docutils rejects inside an output; the `[source]` link's Quarto
# attributes become a class). nbdev's show_doc evaluates annotations, so an annotation naming a
# class defined further down raises NameError (nbdev_proc_nbs fails the same way); the entry then
# shows that annotation as written instead of failing the page. tqdm.auto's warning that ipywidgets is
# missing is not shown.
SETUP = r"""
def _nbdev_docs_show_doc():   # keeps the notebook's namespace clean: only `show_doc` is added
    import inspect, re, warnings
    import fastcore.docments
    from IPython.display import Markdown
    from nbdev.showdoc import show_doc as nbdev_show_doc
    warnings.filterwarnings('ignore', message='IProgress not found')   # tqdm.auto without ipywidgets: text bars

    def myst(doc):
        md = getattr(doc, '_repr_markdown_', None)
        if md is None: return doc
        md = re.sub(r'^\s*---\s*\n', '', md())
        md = re.sub(r'\[source\]\(([^)#]*)(#L\d+)?(#LNone)?\)\{[^}]*\}', r'[source](\1\2){.nbdev-source}', md)
        return Markdown(md)

    def show_doc(sym, *args, **kwargs):
        "nbdev's `show_doc`, as MyST markdown"
        try: return myst(nbdev_show_doc(sym, *args, **kwargs))
        except NameError: pass
        signature = fastcore.docments.signature
        fastcore.docments.signature = lambda obj, eval_str=False, **kw: inspect.signature(obj, **kw)
        try: return myst(nbdev_show_doc(sym, *args, **kwargs))
        finally: fastcore.docments.signature = signature
    return show_doc

show_doc = _nbdev_docs_show_doc()
del _nbdev_docs_show_doc
""".strip()
_re_quarto_dir = re.compile(r'^\s*#\|\s*[\w-]+:.*$\n?', re.MULTILINE)
_re_fm_item = re.compile(r'^-\s+\S.*:.*\S\s*$\n?', re.MULTILINE)


def _add_tags(cell, *tags):
    have = cell.metadata.setdefault('tags', [])
    have.extend(t for t in tags if t not in have)


class frontmatter_keep_title(Processor):
    "nbdev's frontmatter (raw YAML cell, or `# Title` / `> summary` / `- key: value`), keeping the H1 for Sphinx."
    def begin(self): self.nb.frontmatter_ = {}
    def cell(self, cell):
        fm = self.nb.frontmatter_
        if cell.cell_type == 'raw' and (d := _fm2dict(cell.source)):
            fm.update(d)
            cell.source = None   # a raw YAML block is not content
        elif cell.cell_type == 'markdown' and 'title' not in fm and (d := _md2dict(cell.source)):
            fm.update(d)
            cell.source = _re_fm_item.sub('', cell.source)   # `- key: value` lines are settings, not text


class myst_tags(Processor):
    "Quarto/nbdev directives -> myst-nb cell tags (see the module docstring)."
    def begin(self):
        self.flags = set(get_config().get('tst_flags', '').split())
        fm = self.nb.frontmatter_
        if str(fm.get('skip_exec', '')).lower() == 'true':
            self.nb.metadata['mystnb'] = {'execution_mode': 'off'}
        if str(fm.get('skip_showdoc', '')).lower() == 'true':
            self.nb.cells = [c for c in self.nb.cells if not getattr(c, 'has_sd', False)]

    def cell(self, cell):
        if cell.cell_type != 'code': return
        d = cell.directives_ or {}
        opt = lambda k: ' '.join(d.get(k + ':', [])).strip().lower()
        if getattr(cell, 'has_sd', False) or re.match(r'\s*show_doc\(', cell.source):
            _add_tags(cell, 'remove-input', SHOW_DOC_TAG)
        if d.keys() & HIDDEN or opt('include') == 'false': _add_tags(cell, 'remove-cell')
        if opt('echo') == 'false': _add_tags(cell, 'remove-input')
        if opt('output') == 'false': _add_tags(cell, 'remove-output')
        if opt('code-fold') in ('true', 'show'): _add_tags(cell, 'hide-input')
        if opt('eval') == 'false' or self.flags & d.keys() or 'nbdev_export' + '(' in cell.source:
            _add_tags(cell, 'skip-execution')
        cell.source = _re_quarto_dir.sub('', cell.source).strip('\n')


def process(src: Path) -> dict:
    "The notebook at `src`, processed for myst-nb."
    nb = read_nb(src)
    nb.metadata['kernelspec'] = KERNELSPEC   # myst-nb needs one; jupytext-made notebooks may lack it
    nb.metadata.pop('widgets', None)
    procs = [frontmatter_keep_title, populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_,
             rm_header_dash, ai_magics, clean_magics, add_links, mv_exports, myst_tags, strip_hidden_metadata]
    NBProcessor(nb=nb, procs=procs, process=True)
    if nb.metadata.get('mystnb', {}).get('execution_mode') != 'off':   # what nbdev's exec_show_docs runs first
        nb.cells.insert(0, mk_cell(f'# docs inputs {inputs_hash()}\n{SETUP}', 'code'))
        nb.cells[0].metadata['tags'] = ['remove-cell']
    for c in nb.cells:
        if c.cell_type != 'code': c.pop('outputs', None)
        for k in [k for k in c if k.endswith('_') or k == 'has_sd']: del c[k]   # nbdev's private cell attributes
    return nb


def inputs_hash() -> str:
    """Hash of the library and of this docs machinery. myst-nb's cache reruns a notebook when its code changes;
    with this hash in every notebook's first cell, a change to `hdexpr/` (which the notebooks import) or to
    the build reruns them all, so no page shows outputs of older code."""
    cfg = get_config()
    files = sorted(cfg.lib_path.rglob('*.py')) + [Path(__file__), Path(__file__).with_name('build.py')]
    h = hashlib.sha1()
    for f in files: h.update(f.relative_to(cfg.config_path).as_posix().encode() + b'\0' + f.read_bytes())
    return h.hexdigest()[:16]


def link_to_pages(nb, depth: int, documented: dict):
    """nbdev's `add_links` points at the published site (`page.html#sym`): point at this site's page instead
    (`page.ipynb`), at the symbol's API entry when that page has one (else its class's, else the page)."""
    from myst_parser.slugs import github_slugify   # how myst names a heading's anchor (conf.py: myst_heading_anchors)
    cfg = get_config()
    site = re.escape(cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/') + '/')
    link = re.compile(rf'\]\({site}([^)#\s]+)\.html(?:#([^)\s]*))?\)')
    def _sub(m):
        page, sym = m[1], (m[2] or '').lower()
        names = documented.get(page, {})
        for s in (sym, sym.rsplit('.', 1)[0]):
            if s in names: return f']({"../" * depth}{page}.ipynb#{github_slugify(names[s])})'
        return f']({"../" * depth}{page}.ipynb)'
    for c in nb.cells:
        if c.cell_type == 'markdown': c.source = link.sub(_sub, c.source)


def write_if_changed(nb, path: Path):
    "Write `nb` unless `path` holds it already: an unchanged page keeps its mtime and Sphinx skips it."
    tmp = path.with_suffix('.tmp')
    write_nb(nb, tmp)
    if path.exists() and filecmp.cmp(tmp, path, shallow=False): tmp.unlink()
    else: tmp.replace(path)


def main(dest):
    cfg = get_config()
    nbs, dest = cfg.nbs_path, Path(dest).resolve()
    pages = {}
    for src in sorted(nbglob(nbs, as_path=True)):
        page = _nbpath2html(src.relative_to(nbs)).with_suffix('').as_posix()
        if page in pages: sys.exit(f'{src} and {pages[page]} both map to page {page}.html; rename one of them')
        pages[page] = src
    if 'index' not in pages: sys.exit(f'{nbs}/index.ipynb (the home page) is missing')
    nbs_out = {page: process(src) for page, src in pages.items()}
    documented = {page: {n.lower(): n for c in nb.cells if SHOW_DOC_TAG in c.metadata.get('tags', [])
                         for n in re.findall(r'show_doc\(\s*([\w.]+)', c.source)}
                  for page, nb in nbs_out.items()}
    entries = '\n'.join(p for p in pages if p != 'index')
    nbs_out['index'].cells.append(mk_cell(f'```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{entries}\n```', 'markdown'))
    for f in dest.rglob('*.ipynb') if dest.exists() else []:   # pages of notebooks that are gone
        if f.relative_to(dest).with_suffix('').as_posix() not in pages: f.unlink()
    for page, nb in nbs_out.items():
        link_to_pages(nb, page.count('/'), documented)
        (dest / page).parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(nb, dest / f'{page}.ipynb')
    for img in sorted((nbs / 'images').rglob('*')) if (nbs / 'images').is_dir() else []:   # figures the pages link to
        to = dest / 'images' / img.relative_to(nbs / 'images')
        if img.is_file() and not (to.exists() and filecmp.cmp(img, to, shallow=False)):
            to.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(img, to)
    print(f'{len(pages)} notebooks from {nbs} -> {dest}')
    return len(pages)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'build/docs/src')
