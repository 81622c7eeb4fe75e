"""Every notebook in nbs/ runs to the end, as the docs build executed it (tests/conftest.py): cells flagged with
settings.ini's `tst_flags` (`slow`) are skipped. One notebook alone, while editing it: `nbdev_test --path nbs/X.ipynb`."""
from pathlib import Path

import pytest
from nbdev.doclinks import _nbpath2html

NBS = Path(__file__).parent.parent / 'nbs'
NOTEBOOKS = sorted(NBS.glob('[0-9]*.ipynb'))


@pytest.mark.parametrize('notebook', NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook(site_build, notebook):
    _, report = site_build
    page = _nbpath2html(notebook.relative_to(NBS)).with_suffix('').as_posix()
    assert page in report, f'{notebook.name}: the docs build wrote no page {page} (see tests/test_docs.py)'
    if report[page] == 'skip_exec': pytest.skip(f'{notebook.name} says skip_exec in its frontmatter')
    assert report[page] is None, f'{notebook.name} failed:\n{report[page]}'
