"""The docs build, once per test session: it executes every notebook (tests/test_notebooks.py asserts on what it
reports) and renders the site (tests/test_docs.py checks it), so no notebook runs twice.

It starts in the background as soon as the tests are collected, and the tests that read it run last: every other test
runs beside it. Each process keeps to one thread (OMP_NUM_THREADS=1, unless set), so the build's kernels and the tests
share the cores instead of fighting over them; and each synthetic study is made once for all of them (HDEXPR_STUDY_CACHE,
`hdexpr.synth.study.write_study`)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault('OMP_NUM_THREADS', '1')   # before any test module imports torch
_STUDIES = None if 'HDEXPR_STUDY_CACHE' in os.environ else tempfile.mkdtemp(prefix='hdexpr-studies-')
if _STUDIES: os.environ['HDEXPR_STUDY_CACHE'] = _STUDIES   # each synthetic study made once per session, the docs build's included

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'docs'))
import build as docs_build  # noqa: E402

_BUILD = {}   # 'proc': the running build, 'log': the file its output goes to


@pytest.hookimpl(trylast=True)   # after -k / -m have deselected what will not run
def pytest_collection_modifyitems(session, config, items):
    "Tests that read the docs build go last; the build starts now, when any is to run."
    reads = {i: 'site_build' in getattr(i, 'fixturenames', ()) for i in items}
    if not any(reads.values()): return
    items.sort(key=reads.get)   # stable: the others keep their order, the build's readers follow in theirs
    log = tempfile.TemporaryFile(mode='w+')   # a file, not a pipe: a full pipe would stall the build
    _BUILD.update(log=log, proc=subprocess.Popen([sys.executable, str(ROOT / 'docs' / 'build.py')], cwd=ROOT, stdout=log,
                                                 stderr=subprocess.STDOUT, text=True, start_new_session=True))


def pytest_sessionfinish(session, exitstatus):
    "A build still running when the session ends (an interrupted or failed-fast run) stops with it, kernels and all."
    proc = _BUILD.get('proc')
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    if _STUDIES: shutil.rmtree(_STUDIES, ignore_errors=True)


@pytest.fixture(scope='session')
def site_build():
    "(the build's CompletedProcess, page -> None or why its notebook did not run to the end)"
    proc, log = _BUILD['proc'], _BUILD['log']
    proc.wait()
    log.seek(0)
    return subprocess.CompletedProcess(proc.args, proc.returncode, log.read(), ''), docs_build.execution_report()
