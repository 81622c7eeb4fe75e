"""Build the docs site (`make docs`); the tests run it too, and it is where every notebook is executed.

nbs/ --docs/proc_nbs.py--> build/docs/src --Sphinx + myst-nb (docs/conf.py)--> build/docs/html --copy--> _docs/

Notebooks are executed by myst-nb, one kernel per core, with a cache (build/docs/jupyter_cache): a
notebook runs again only when its code, the package or this machinery changed. `execution_report`
says which notebooks ran and the traceback of each that did not: tests/test_notebooks.py asserts on
it, so each notebook is executed once per test run, and the pages show what the tests saw. Sphinx
warnings fail the build (-W), and so does a notebook that raises. Notebooks run in a temporary cwd
with TMPDIR pointing into a temporary folder that is deleted afterwards, so nothing is left in the
checkout but build/ and _docs/.
"""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbdev.config import get_config

sys.path.insert(0, str(Path(__file__).parent))
import proc_nbs  # noqa: E402


def build_dir() -> Path: return get_config().config_path / 'build' / 'docs'


def main() -> int:
    cfg = get_config()
    build = build_dir()
    build.mkdir(parents=True, exist_ok=True)
    with open(build / '.lock', 'w') as lock:   # one build at a time in a shared checkout; a second one waits
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(cfg, build)


def _build(cfg, build) -> int:
    root = cfg.config_path
    src, html, site = build / 'src', build / 'html', cfg.doc_path
    t0 = time.time()
    n_pages = proc_nbs.main(src)
    from jupyter_cache import get_cache   # keep a few executed versions per notebook, not jupyter-cache's 1000
    get_cache(build / 'jupyter_cache').change_cache_limit(3 * n_pages)
    shutil.rmtree(html, ignore_errors=True)   # every page is rewritten anyway; no stale pages survive
    # kernels draw figures inline (an inherited MPLBACKEND=Agg, as CI sets, would leave the pages without them)
    env = {**os.environ, 'MPLBACKEND': 'module://matplotlib_inline.backend_inline', 'PYDEVD_DISABLE_FILE_VALIDATION': '1'}
    env.setdefault('OMP_NUM_THREADS', '1')
    with tempfile.TemporaryDirectory(prefix='hdexpr-docs-') as tmp:
        env['TMPDIR'] = tmp   # the notebooks' mkdtemp() folders go with it
        env.setdefault('HDEXPR_STUDY_CACHE', str(Path(tmp) / 'studies'))   # each synthetic study made once per build (the tests pass theirs)
        jobs = os.environ.get('HDEXPR_DOCS_JOBS', 'auto')   # notebooks execute in parallel, one kernel per core
        cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(root / 'docs'), '-d', str(build / 'doctrees'),
               '-W', '--keep-going', '-q', '-j', jobs, str(src), str(html)]
        rc = subprocess.call(cmd, env=env, cwd=root)
    if rc:
        print(f'docs: sphinx-build failed (exit {rc}); see the warnings above', file=sys.stderr)
        return rc
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(html, site, ignore=shutil.ignore_patterns('.buildinfo', '_sources'))
    print(f'docs: {site} built in {time.time() - t0:.0f} s; view it with: python -m http.server -d {site.relative_to(root)}')
    return 0


def execution_report(build: Path | None = None) -> dict[str, str | None]:
    """Page (`13_synth`, as under build/docs/src) -> None when its notebook ran to the end (its outputs are in the
    cache), 'skip_exec' when its frontmatter says not to run it, else the traceback (or why it did not run)."""
    import nbformat
    from jupyter_cache import get_cache
    build = build or build_dir()
    cache, src = get_cache(build / 'jupyter_cache'), build / 'src'
    tracebacks = {Path(r.uri).resolve(): r.traceback for r in cache.list_project_records()}
    report = {}
    for f in sorted(src.rglob('*.ipynb')):
        page = f.relative_to(src).with_suffix('').as_posix()
        nb = nbformat.read(f, as_version=4)
        if nb.metadata.get('mystnb', {}).get('execution_mode') == 'off':
            report[page] = 'skip_exec'
            continue
        try: cache.match_cache_notebook(nb)
        except KeyError: report[page] = tracebacks.get(f.resolve()) or f'{page} was not executed (see the build log)'
        else: report[page] = None
    return report


if __name__ == '__main__':
    sys.exit(main())
