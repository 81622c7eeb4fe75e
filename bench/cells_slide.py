"""Cells of a whole slide: seconds and peak RSS of `hdexpr.predict.cells.predict_cells` (built-in segmentation, or a label image).

The prediction is the true rate λ of the synthetic P5 of --size (tiny 384², default 768², full 3250²
bins of 2 µm; generated alone, with a 300-gene panel), written as a prediction folder by
`hdexpr.predict.folder.truth_prediction`: what cells cost depends on the H&E's area and the number of
predicted genes, not on the model or the generator's panel. Each run is a fresh
process; RSS is sampled every 20 ms (bench/child.py), beside the RSS after the imports.

Usage:  python bench/cells_slide.py [--size tiny|default|full] [--work DIR] [--genes 50] [--report FILE]
"""
from __future__ import annotations

import argparse, json, shutil, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child import run_child  # noqa: E402

CHILD = """
import json, sys, time
from hdexpr.predict.cells import predict_cells
rss_imports = peak = rss()
t = time.perf_counter()
out = predict_cells(sys.argv[1], cells=sys.argv[2], progress=False)
seconds = time.perf_counter() - t
stop.set()
import anndata as ad
a = ad.read_h5ad(out, backed='r')
print('RESULT', json.dumps({'cells_s': round(seconds, 2), 'cells': a.n_obs, 'genes': a.n_vars,
                            'rss_after_imports_gib': round(rss_imports / 2 ** 30, 3), 'peak_rss_gib': round(peak / 2 ** 30, 3)}))
"""


PANEL_GENES = 300   # what cells cost depends on the H&E's area and the predicted genes, not on the generator's panel


def bench_cells(size: str, work: Path, *, n_genes: int = 50, cells: str = 'builtin') -> dict:
    "Seconds and peak RSS of `predict_cells` on P5 of the synthetic study of `size` (its truth as the prediction)."
    from dataclasses import replace
    from hdexpr.predict.folder import truth_prediction
    from hdexpr.synth.study import make_sample
    from hdexpr.synth.expression import named_genes
    from hdexpr.synth.tissue import PATIENTS, SIZES
    p5 = work / f'P5_{size}'
    if not (p5 / 'truth' / 'params.json').exists():           # P5 alone, its panel cut to the 50 named genes + filler
        t = time.perf_counter(); shutil.rmtree(p5, ignore_errors=True)
        make_sample(p5, PATIENTS['P5'], replace(SIZES[size], n_genes=PANEL_GENES))
        print(f'P5 ({size}) generated in {time.perf_counter() - t:.0f} s', file=sys.stderr, flush=True)
    pred = work / f'pred_{size}_{n_genes}'
    if not (pred / 'predict.json').exists():
        t = time.perf_counter(); truth_prediction(p5, named_genes()[:n_genes], pred)
        print(f'truth written as a prediction in {time.perf_counter() - t:.0f} s', file=sys.stderr, flush=True)
    return {'size': size, 'source': cells, **run_child(CHILD, pred, cells)}


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
