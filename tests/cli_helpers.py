"""What the console-script tests share: the `hdexpr` script beside this Python, the tiny training flags, the one-line-error
check, and the tiny synthetic study and its store as session fixtures (made once for every test module that loads this plugin;
no test may change them: copy them first). `hdexpr.cli.run_cli` runs a command in the test's own process."""
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HDEXPR = Path(sys.executable).parent / 'hdexpr'
TINY = ['--encoder', 'tiny-random', '--epochs', '1', '--batch_size', '4', '--accumulate', '1', '--precision', 'fp32', '--lr', '3e-3',
        '--decoder', '{"hidden_dim": 32, "n_heads": 2, "gnn_heads": 2, "up_dims": [16, 8, 8], "image_branch": false}']


def hdexpr(*args, cwd=None, env=None):
    "`hdexpr *args` as a process of its own; its CompletedProcess."
    return subprocess.run([str(HDEXPR), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


def training(store, run: Path, *flags, until: str = 'run.json') -> subprocess.Popen:
    "`hdexpr train` of 50 tiny epochs (or as `flags` say) into `run`, a process of its own, waited for until `run/until` exists."
    proc = subprocess.Popen([str(HDEXPR), 'train', '--store', str(store), '--out', str(run), *TINY, '--epochs', '50', *map(str, flags)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # a shell's background job ignores Ctrl-C
    while not (run / until).exists() and proc.poll() is None: time.sleep(0.02)
    return proc


def one_line_error(r, *needles, code=2):
    "The command failed with exit status `code` and printed one line holding every needle, and no traceback."
    assert r.returncode == code, f'exit {r.returncode}, expected {code}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}'
    shown = [re.sub(r'\x1b\[[0-9;]*[A-Za-z]', '', l).split('\r')[-1] for l in r.stderr.splitlines()]   # as a terminal shows them
    lines = [l for l in shown if l.startswith('hdexpr')]   # progress bars may stand above it
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    for needle in needles: assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope='session')
def study(tmp_path_factory):
    "The tiny synthetic study (made in this process: the console script's own process is not what is tested here)."
    from hdexpr.cli import main
    root = tmp_path_factory.mktemp('study')
    assert main(['synth', '--out', str(root / 'study'), '--size', 'tiny']) == 0
    return root / 'study'


@pytest.fixture(scope='session')
def store(study):
    "Its patch store of 10 genes."
    from hdexpr.cli import main
    out = study.parent / 'store'
    assert main(['prepare', '--data_dir', str(study), '--out', str(out), '--n_genes', '10']) == 0
    return out


def copy_study(study, dst):
    shutil.copytree(study, dst)
    return dst
