"What the command-line tests share: the one-line error check, and `hdexpr` run in this process."
import subprocess


def one_line_error(r, *needles, code=2):
    "The command failed with exit status `code` and printed one line holding every needle, and no traceback."
    assert r.returncode == code, f'exit {r.returncode}, expected {code}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}'
    lines = [l for l in r.stderr.splitlines() if l.startswith('hdexpr')]   # progress bars may stand above it
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    for needle in needles: assert needle in lines[0], (needle, lines[0])
    return lines[0]


def run_cli(capsys, *args) -> subprocess.CompletedProcess:
    "`hdexpr *args` run in this process (`hdexpr.cli.main`): its exit status, stdout and stderr, as the console script's would be."
    from hdexpr.cli import main
    capsys.readouterr()
    try: code = main([str(a) for a in args])
    except SystemExit as e: code = e.code   # argparse's own errors (a flag it does not know)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(['hdexpr', *map(str, args)], code, out, err)
