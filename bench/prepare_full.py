"""Streamed vs naive reading of a full-size Visium HD sample, and `prepare` on it.

Measures, in one run and each in its own process (so each peak RSS is its own):

1. streamed: what `hdexpr prepare` does for counts (gene moments streamed over all genes on
   the training sample, then only the chosen genes' counts of both samples);
2. naive: what a user would write with scanpy (`sc.read_10x_h5` of each whole matrix,
   variance of every gene over the same bins, then indexing the chosen genes);
3. the whole `prepare` (patches, H&E crops, zarr store) on the same two samples.

Usage:  python bench/prepare_full.py --study /path/to/full_study [--size full] [--report bench_prepare.json]
The study is generated (`hdexpr synth --size full`, or --size) when the folder holds no manifest.
`bench/run_all.py` calls `bench_prepare(study, size=...)` directly.
"""
import argparse, json, subprocess, sys, tempfile, textwrap, time
from pathlib import Path

STREAMED = """
from hdexpr.store.patches import *
from hdexpr.io.visium_hd import open_sample, read_counts, read_features
m = read_manifest(MANIFEST); s = {r.patient: open_sample(r.path, r.image) for r in m.itertuples()}
tables = {p: patch_table(x.tissue) for p, x in s.items()}
genes = select_genes([gene_moments(s['P1'], tables['P1'])], list(read_features(s['P1'].counts_path).name))
for p in ('P1', 'P5'): counts, _ = read_counts(s[p].counts_path, genes)
print(genes[:5])
"""
NAIVE = """
import numpy as np, scanpy as sc
from hdexpr.store.patches import *
from hdexpr.io.visium_hd import open_sample
m = read_manifest(MANIFEST); s = {r.patient: open_sample(r.path, r.image) for r in m.itertuples()}
tables = {p: patch_table(x.tissue) for p, x in s.items()}
ad = sc.read_10x_h5(s['P1'].counts_path)
rows, cols = np.array([b.rsplit('-', 1)[0].split('_')[2:4] for b in ad.obs_names], dtype=int).T
in_patch = np.zeros(s['P1'].grid_shape, bool)
for r, c in zip(tables['P1'].array_row0, tables['P1'].array_col0): in_patch[r:r + 128, c:c + 128] = True
X = ad.X[in_patch[rows, cols]]
mean = np.asarray(X.mean(0)).ravel(); var = np.asarray(X.multiply(X).mean(0)).ravel() - mean ** 2
genes = list(ad.var_names[np.argsort(-var)[:50]])
del X, ad
for p in ('P1', 'P5'): ad = sc.read_10x_h5(s[p].counts_path); counts = ad[:, genes].X.copy(); del ad
print(genes[:5])
"""
PREPARE = """
from hdexpr.store.prepare import prepare
print(prepare(MANIFEST, OUT, train_patients=['P1'], test_patient='P5', progress=False))
"""

def measure(code: str, **subs) -> dict:
    """Run `code` in a fresh Python; wall seconds and peak RSS (GiB) of that process alone.

    The RSS is sampled every 20 ms after the child has started (its ru_maxrss would also count the parent's pages
    copied at fork, before exec: a large parent, e.g. `bench/run_all.py` with torch loaded, would set every figure)."""
    import psutil
    for k, v in subs.items(): code = code.replace(k, repr(str(v)))
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], stdout=subprocess.DEVNULL)
    child, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try: peak = max(peak, child.memory_info().rss)
        except psutil.NoSuchProcess: break
        time.sleep(0.02)
    wall = time.perf_counter() - t
    if proc.returncode != 0: raise RuntimeError(f'benchmark step failed (exit {proc.returncode}):\n{code}')
    return {'wall_s': round(wall, 1), 'peak_rss_gib': round(peak / 2**30, 2)}

def bench_prepare(study: str | Path, *, size: str = 'full') -> dict:
    "Streamed vs naive counts and the whole `prepare` on P1 + P5 of `study` (generated at `size` when it holds no manifest)."
    study = Path(study)
    report = {'size': size}
    if not (study / 'manifest.csv').exists():
        report['synth'] = measure(f"from hdexpr.synth.study import make_study; make_study(STUDY, size={size!r})", STUDY=study)
    else:
        from hdexpr.core.folders import read_marker
        meta = read_marker(study, marker='study.json')   # the study's marker: {kind, identity: {generator, version, size, seed}}
        report['size'] = meta['identity']['size']['name'] if meta else 'unknown (given study)'
    with tempfile.TemporaryDirectory(dir=study.parent) as tmp:
        two = Path(tmp) / 'manifest.csv'
        import pandas as pd
        m = pd.read_csv(study / 'manifest.csv', dtype=str)
        m = m[m.patient.isin(['P1', 'P5'])]
        for col in ('path', 'image'): m[col] = [str((study / p).resolve()) for p in m[col]]
        m.to_csv(two, index=False)
        report['streamed_counts'] = measure(STREAMED, MANIFEST=two)
        report['naive_scanpy_counts'] = measure(NAIVE, MANIFEST=two)
        report['prepare_two_samples'] = measure(PREPARE, MANIFEST=two, OUT=Path(tmp) / 'store')
    s, n = report['streamed_counts'], report['naive_scanpy_counts']
    report['ratio_naive_over_streamed'] = {'wall': round(n['wall_s'] / s['wall_s'], 2), 'peak_rss': round(n['peak_rss_gib'] / s['peak_rss_gib'], 2)}
    return report

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--study', required=True); ap.add_argument('--report', default='bench_prepare.json')
    ap.add_argument('--size', default='full', help='synthetic size to generate when --study holds no manifest')
    a = ap.parse_args()
    report = bench_prepare(a.study, size=a.size)
    Path(a.report).write_text(json.dumps(report, indent=1))
    for k, v in report.items(): print(f'{k:28s} {v}')

if __name__ == '__main__': main()
