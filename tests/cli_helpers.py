"""What the console-script tests share: the `hdexpr` script beside this Python, the tiny training flags, the one-line-error
check, and the tiny synthetic study and its store as module fixtures (import them into a test module to use them)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HDEXPR = Path(sys.executable).parent / 'hdexpr'
TINY = ['--encoder', 'tiny-random', '--epochs', '1', '--batch_size', '4', '--accumulate', '1', '--precision', 'fp32', '--lr', '3e-3',
        '--decoder', '{"hidden_dim": 32, "n_heads": 2, "gnn_heads": 2, "up_dims": [16, 8, 8], "image_branch": false}']


def hdexpr(*args, cwd=None, env=None):
    "`hdexpr *args` as a process of its own; its CompletedProcess."
    return subprocess.run([str(HDEXPR), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


def run_cli(capsys, *args) -> subprocess.CompletedProcess:
    "`hdexpr *args` in this process (`hdexpr.cli.main`): its exit status and what it printed, as the console script's would be."
    from hdexpr.cli import main
    capsys.readouterr()
    try: code = main([str(a) for a in args])
    except SystemExit as e: code = e.code   # argparse's own errors (a flag it does not know)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(['hdexpr', *map(str, args)], code, out, err)


def one_line_error(r, *needles, code=2):
    "The command failed with exit status `code` and printed one line holding every needle, and no traceback."
    assert r.returncode == code, f'exit {r.returncode}, expected {code}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}'
    shown = [re.sub(r'\x1b\[[0-9;]*[A-Za-z]', '', l).split('\r')[-1] for l in r.stderr.splitlines()]   # as a terminal shows them
    lines = [l for l in shown if l.startswith('hdexpr')]   # progress bars may stand above it
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    for needle in needles: assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    "The tiny synthetic study (made in this process: the console script's own process is not what is tested here)."
    from hdexpr.cli import main
    root = tmp_path_factory.mktemp('study')
    assert main(['synth', '--out', str(root / 'study'), '--size', 'tiny']) == 0
    return root / 'study'


@pytest.fixture(scope='module')
def store(study):
    "Its patch store of 10 genes."
    from hdexpr.cli import main
    out = study.parent / 'store'
    assert main(['prepare', '--data_dir', str(study), '--out', str(out), '--n_genes', '10']) == 0
    return out


def copy_study(study, dst):
    shutil.copytree(study, dst)
    return dst
