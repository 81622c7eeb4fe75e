"""What the benchmarks' child processes share: a prelude that samples the process's peak RSS every 20 ms (psutil), and
the one `RESULT {json}` line a child prints, read back."""
import json
import subprocess
import sys

PEAK_RSS = """
import threading, psutil
_proc, stop = psutil.Process(), threading.Event()
peak = _proc.memory_info().rss
def rss(): return _proc.memory_info().rss
def _watch():
    global peak
    while not stop.wait(0.02): peak = max(peak, rss())
threading.Thread(target=_watch, daemon=True).start()
"""


def run_children(code: str, args: list) -> list[dict]:
    "Run `code` after `PEAK_RSS` (it sets `stop` when done and reads `peak`) in fresh Pythons side by side, one per tuple of `args`; their RESULTs."
    procs = [subprocess.Popen([sys.executable, '-c', PEAK_RSS + code, *map(str, a)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for a in args]
    results = []
    for p in procs:
        out, err = p.communicate()
        line = next((l for l in out.splitlines() if l.startswith('RESULT ')), None)
        if line is None: raise RuntimeError(f'the child process failed (exit {p.returncode}):\n{err[-3000:]}')
        results.append(json.loads(line[7:]))
    return results


def run_child(code: str, *args) -> dict:
    "Run `code` after `PEAK_RSS` in a fresh Python with `args`; its RESULT."
    return run_children(code, [args])[0]
