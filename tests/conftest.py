"""The docs build, once per test session: it executes every notebook (tests/test_notebooks.py asserts on what it
reports) and renders the site (tests/test_docs.py checks it), so no notebook runs twice."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'docs'))
import build as docs_build  # noqa: E402


@pytest.fixture(scope='session')
def site_build():
    "(the build's CompletedProcess, page -> None or why its notebook did not run to the end)"
    r = subprocess.run([sys.executable, str(ROOT / 'docs' / 'build.py')], cwd=ROOT, capture_output=True, text=True)
    return r, docs_build.execution_report()
