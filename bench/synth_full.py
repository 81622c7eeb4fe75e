"""Generate the 'full' synthetic study (3 x 3250 x 3250 bins, 18,000 genes) and report wall time and peak RSS.

    python bench/synth_full.py OUT_DIR [--size full] [--seed 0]

OUT_DIR must be new or empty. Prints one line per stage and a final JSON line.
"""
import argparse, json, resource, sys, threading, time

import psutil

from hdexpr.synth.study import make_study


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('out'); ap.add_argument('--size', default='full'); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    proc, peak, stop = psutil.Process(), [0], threading.Event()
    def watch():  # RSS of this process and any children, sampled every second
        while not stop.wait(1.0):
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak[0] = max(peak[0], rss)
    threading.Thread(target=watch, daemon=True).start()
    t0 = time.time()
    manifest = make_study(a.out, size=a.size, seed=a.seed)
    wall = time.time() - t0; stop.set()
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
    print(json.dumps(dict(size=a.size, seed=a.seed, manifest=str(manifest), wall_s=round(wall, 1),
                          peak_rss_gb=round(max(peak[0], ru) / 2**30, 2))), flush=True)


if __name__ == '__main__':
    sys.exit(main())
