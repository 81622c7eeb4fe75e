"""Cells of a whole slide: seconds and peak RSS of `hdexpr.cells.predict_cells` (built-in segmentation, or a label image).

The prediction is the true rate λ of P5 of a synthetic study of --size (tiny 384², default 768²,
full 3250² bins of 2 µm), written as a prediction folder by `hdexpr.cells.truth_prediction`: what
cells cost depends on the H&E's area and the number of genes, not on the model. Each run is a fresh
process; RSS is sampled every 20 ms (psutil), beside the RSS after the imports.

Usage:  python bench/cells_slide.py [--size tiny|default|full] [--work DIR] [--genes 50] [--report FILE]
"""
from __future__ import annotations

import argparse, json, subprocess, sys, tempfile
from pathlib import Path

CHILD = """
import json, threading, time, psutil
from hdexpr.cells import predict_cells
proc, stop = psutil.Process(), threading.Event()
rss_imports = peak = proc.memory_info().rss
def watch():
    global peak
    while not stop.wait(0.02): peak = max(peak, proc.memory_info().rss)
threading.Thread(target=watch, daemon=True).start()
t = time.perf_counter()
out = predict_cells(PRED, cells=CELLS, progress=False)
seconds = time.perf_counter() - t
stop.set()
import anndata as ad
a = ad.read_h5ad(out, backed='r')
print('RESULT', json.dumps({'cells_s': round(seconds, 2), 'cells': a.n_obs, 'genes': a.n_vars,
                            'rss_after_imports_gib': round(rss_imports / 2 ** 30, 3), 'peak_rss_gib': round(peak / 2 ** 30, 3)}))
"""


def bench_cells(size: str, work: Path, *, n_genes: int = 50, cells: str = 'builtin') -> dict:
    "Seconds and peak RSS of `predict_cells` on P5 of the synthetic study of `size` (its truth as the prediction)."
    from hdexpr.cells import truth_prediction
    from hdexpr.synth import make_study
    from hdexpr.synth_expression import named_genes
    study = make_study(work / f'study_{size}', size=size).parent
    pred = work / f'pred_{size}_{n_genes}'
    if not (pred / 'predict.json').exists(): truth_prediction(study / 'P5', named_genes()[:n_genes], pred)
    code = CHILD.replace('PRED', repr(str(pred))).replace('CELLS', repr(cells))
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
    if line is None: raise RuntimeError(r.stderr[-2000:])
    return {'size': size, 'source': cells, **json.loads(line[7:])}


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--size', default='tiny', choices=['tiny', 'default', 'full'])
    p.add_argument('--work', default=None)
    p.add_argument('--genes', type=int, default=50)
    p.add_argument('--report', default=None)
    a = p.parse_args()
    work = Path(a.work or tempfile.mkdtemp())
    result = bench_cells(a.size, work, n_genes=a.genes)
    print(json.dumps(result, indent=1))
    if a.report: Path(a.report).write_text(json.dumps(result, indent=1) + '\n')
