"Run every notebook in nbs/ as a test, as nbdev_test does (cells flagged `slow` are skipped)."
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = sorted(Path(__file__).parent.parent.joinpath('nbs').glob('[0-9]*.ipynb'))


@pytest.mark.parametrize('notebook', NBS, ids=[nb.stem for nb in NBS])
def test_notebook(notebook):
    skip_flags = get_config().tst_flags.split()
    ok, seconds = run_notebook(notebook, skip_flags=skip_flags)
    assert ok, f'{notebook.name} failed after {seconds:.0f} s; the traceback is printed above'
