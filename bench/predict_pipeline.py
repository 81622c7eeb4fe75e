"""One `hdexpr predict ... --cells builtin --sdata` end to end: wall time, s/mm² of tissue, each stage's seconds and peak RSS,
then `spatialdata.read_zarr` on the store it wrote (seconds, peak RSS) and its 2 µm table against prediction.h5ad.

The command is the console script as a user runs it, in its own process with --threads torch threads; its RSS is
sampled every 0.25 s (psutil). A stage ends when its output appears: predict.json saying complete (the tiles, the
maps and prediction.h5ad), cells.h5ad, prediction.sdata.zarr. The store is then opened by `spatialdata.read_zarr`
in a fresh process, and --sample random 2 µm bins of its table are compared with the same rows of prediction.h5ad
(both hold the float16 maps' numbers, so they must be equal).

Usage:  python bench/predict_pipeline.py --model_dir RUN --image H&E.tif [--spaceranger DIR] --out DIR
                                         [--threads 2] [--sample 10000] [--report FILE] [-- more hdexpr predict flags]
e.g. the full-size synthetic P5 (`hdexpr synth --size full`):
        python bench/predict_pipeline.py --model_dir /work/after/baseline_hd --image full/P5/P5_tissue_image.tif \\
            --spaceranger full/P5 --out pred_full --report bench_pipeline_full.json
"""
from __future__ import annotations

import argparse, json, os, subprocess, sys, threading, time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child import run_child  # noqa: E402

STAGES = ('prediction', 'cells', 'SpatialData')

READ = """
import json, sys, time, h5py, numpy as np
rss_before = peak = rss()
import spatialdata
out, n = sys.argv[1], int(sys.argv[2])
t = time.perf_counter(); s = spatialdata.read_zarr(out + '/prediction.sdata.zarr'); seconds = time.perf_counter() - t
stop.set()
table = s.tables['square_002um']
labels = s.labels[table.uns['spatialdata_attrs']['region']]
rows = np.sort(np.random.default_rng(0).choice(table.n_obs, min(n, table.n_obs), replace=False))
with h5py.File(out + '/prediction.h5ad', 'r') as f:
    X = f['X'][rows]; names = f['obs']['_index'].asstr()[rows]
    rc = np.stack([f['obs']['array_row'][rows], f['obs']['array_col'][rows]], 1)
sub = table[rows]
label_at = labels.data.vindex[rc[:, 0], rc[:, 1]].compute()
print('RESULT', json.dumps({'read_zarr_s': round(seconds, 2), 'read_zarr_peak_rss_gib': round(peak / 2 ** 30, 3),
      'rss_before_read_gib': round(rss_before / 2 ** 30, 3), 'labels_lazy': type(labels.data).__name__,
      'table_2um': list(table.shape), 'sampled_bins': len(rows),
      'max_abs_diff_vs_h5ad': float(np.abs(np.asarray(sub.X, np.float64) - X.astype(np.float64)).max()),
      'names_equal': bool((sub.obs_names.to_numpy() == names).all()),
      'labels_equal_rows': bool((label_at == sub.obs[table.uns['spatialdata_attrs']['instance_key']].to_numpy()).all())}))
"""


def run_pipeline(args: list[str], out: Path, *, threads: int = 2) -> dict:
    "Run `hdexpr predict *args --out out` as its own process; its wall time and, per stage, seconds and peak RSS."
    hdexpr = Path(sys.executable).parent / 'hdexpr'
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    done = {'prediction': lambda: _complete(out / 'predict.json'), 'cells': (out / 'cells.h5ad').exists,
            'SpatialData': (out / 'prediction.sdata.zarr').exists}
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(hdexpr), 'predict', *args, '--out', str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    ps, samples, ends = psutil.Process(proc.pid), [], {}
    lines = {}
    def drain(name, stream): lines[name] = stream.read()
    readers = [threading.Thread(target=drain, args=(k, getattr(proc, k)), daemon=True) for k in ('stdout', 'stderr')]
    for r in readers: r.start()
    while proc.poll() is None:
        try: samples.append((time.perf_counter() - t0, ps.memory_info().rss))
        except psutil.NoSuchProcess: break
        for stage, check in done.items():
            if stage not in ends and check(): ends[stage] = time.perf_counter() - t0
        time.sleep(0.25)
    wall = time.perf_counter() - t0
    for r in readers: r.join()
    if proc.returncode != 0: raise RuntimeError(f"hdexpr predict failed (exit {proc.returncode}):\n{lines['stderr'][-3000:]}")
    for stage, check in done.items(): ends.setdefault(stage, wall)
    stages, start = {}, 0.0
    for stage in STAGES:
        peak = max((rss for t, rss in samples if start <= t <= ends[stage] + 0.25), default=0)
        stages[stage] = {'seconds': round(ends[stage] - start, 1), 'peak_rss_gib': round(peak / 2 ** 30, 3)}
        start = ends[stage]
    summary = json.loads((out / 'predict.json').read_text())['summary']
    mm2 = summary['bins'] * 4e-6
    return {'wall_s': round(wall, 1), 'peak_rss_gib': round(max(r for _, r in samples) / 2 ** 30, 3), 'bins': summary['bins'],
            'tissue_mm2': round(mm2, 3), 's_per_mm2_prediction': round(stages['prediction']['seconds'] / mm2, 3),
            's_per_mm2_all': round(wall / mm2, 3), 'tiles': summary['tiles'], 'threads': threads, 'stages': stages,
            'stdout': lines['stdout']}


def _complete(marker: Path) -> bool:
    try: return bool(json.loads(marker.read_text()).get('complete'))
    except (OSError, ValueError): return False


def check_store(out: Path, *, sample: int = 10_000) -> dict:
    "Open the store with `spatialdata.read_zarr` in a fresh process: seconds, peak RSS, and sampled 2 µm bins against prediction.h5ad."
    return run_child(READ, out, sample)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model_dir', required=True); ap.add_argument('--image', required=True)
    ap.add_argument('--spaceranger'); ap.add_argument('--out', required=True)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--sample', type=int, default=10_000)
    ap.add_argument('--report')
    a, extra = ap.parse_known_args()
    extra = [x for x in extra if x != '--']
    args = ['--model_dir', a.model_dir, '--image', a.image, '--cells', 'builtin', '--sdata', *extra]
    if a.spaceranger: args += ['--spaceranger', a.spaceranger]
    out = Path(a.out)
    r = run_pipeline(args, out, threads=a.threads)
    print(r.pop('stdout'))
    r['store'] = check_store(out, sample=a.sample)
    r['command'] = 'hdexpr predict ' + ' '.join(map(str, args)) + f' --out {out}'
    print(json.dumps(r, indent=1))
    if a.report: Path(a.report).write_text(json.dumps(r, indent=1) + '\n')


if __name__ == '__main__':
    main()
