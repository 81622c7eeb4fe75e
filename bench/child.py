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


def run_child(code: str, *args) -> dict:
    "Run `code` after `PEAK_RSS` (it sets `stop` when done and reads `peak`) in a fresh Python with `args`; its RESULT."
    r = subprocess.run([sys.executable, '-c', PEAK_RSS + code, *map(str, args)], capture_output=True, text=True)
    line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
    if line is None: raise RuntimeError(f'the child process failed (exit {r.returncode}):\n{r.stderr[-3000:]}')
    return json.loads(line[7:])
