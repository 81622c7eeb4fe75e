"""Whole-slide prediction: seconds per mm² of tissue and peak RSS of `hdexpr.predict.slide.predict_slide`.

The model is a short run (1 epoch) on the tiny synthetic study with the CPU default encoder
(efficientnet-lite0): what prediction costs depends on the encoder, the decoder and the tissue
area, not on how well the run was trained. The slide is the test patient P5 of a synthetic
study of --size (tiny 384², default 768², full 3250² bins of 2 µm), or an H&E of your own.
Each prediction runs in a fresh process, so its wall time and peak RSS are its own (RSS is
sampled every 20 ms; the imports alone, torch and torch-geometric, hold ~1.3 GiB); the seconds
per mm² count the prediction alone (not the interpreter's start and imports).

Usage:  python bench/predict_slide.py [--size tiny|default|full] [--work DIR] [--threads 2] [--report FILE]
        python bench/predict_slide.py --image H&E.tif [--spaceranger DIR] [--model_dir RUN]

From Python (e.g. a bench suite), with bench/ on sys.path:
    from predict_slide import bench_predict, bench_run, bench_slide
    run = bench_run(work); image, sr = bench_slide('default', work)
    bench_predict(run, image, spaceranger=sr, threads=2)   # -> dict of the numbers below
"""
from __future__ import annotations

import argparse, json, shutil, subprocess, sys, tempfile, time
from pathlib import Path

CHILD = """
import json, threading, time, psutil, torch, zarr
torch.set_num_threads(THREADS)
from hdexpr.predict.slide import predict_slide
proc, stop = psutil.Process(), threading.Event()
rss_imports = peak = proc.memory_info().rss          # torch, timm, torch-geometric, zarr, anndata
def watch():                                         # sampled: ru_maxrss would count the parent's pages from before exec
    global peak
    while not stop.wait(0.02): peak = max(peak, proc.memory_info().rss)
threading.Thread(target=watch, daemon=True).start()
kwargs = json.loads(KWARGS)
t = time.perf_counter()
out = predict_slide(MODEL_DIR, IMAGE, out=OUT, progress=False, **kwargs)
seconds = time.perf_counter() - t
stop.set()
summary = json.loads((out / 'predict.json').read_text())['summary']
root = zarr.open_group(out / 'prediction.zarr', mode='r')
print('RESULT', json.dumps({'predict_s': seconds, 'n_tiles': summary['tiles'], 'n_blocks': summary['blocks'],
                            'in_tissue_bins': summary['in_tissue_bins'], 'grid_shape': list(root['in_tissue'].shape),
                            'rss_after_imports_gib': round(rss_imports / 2 ** 30, 3), 'peak_rss_gib': round(peak / 2 ** 30, 3)}))
"""


def bench_run(work: str | Path, *, encoder: str = 'efficientnet-lite0') -> Path:
    "A 1-epoch run with `encoder` on the tiny synthetic study under `work` (reused when it is there)."
    from hdexpr.store.prepare import prepare
    from hdexpr.synth.study import make_study
    from hdexpr.train.loop import fit
    from hdexpr.train.runs import TrainConfig
    work = Path(work)
    run = work / f'run_{encoder}'
    if (run / 'checkpoints' / 'best.pt').exists(): return run
    shutil.rmtree(run, ignore_errors=True)
    store = prepare(make_study(work / 'study_tiny', size='tiny'), work / 'store_tiny', progress=False)
    return fit(TrainConfig(store=str(store.path), encoder=encoder, epochs=1, batch_size=8, accumulate=1), run, progress=False)


def bench_slide(size: str, work: str | Path) -> tuple[Path, Path]:
    "The H&E and Space Ranger folder of P5 in the synthetic study of `size` under `work` (generated once)."
    from hdexpr.synth.study import make_study
    sample = make_study(Path(work) / f'study_{size}', size=size).parent / 'P5'
    return sample / 'P5_tissue_image.tif', sample


def bench_predict(model_dir: str | Path, image: str | Path, *, spaceranger: str | Path | None = None, threads: int = 2,
                  out: str | Path | None = None, **predict_kwargs) -> dict:
    "Predict `image` with the run `model_dir` in a fresh process; its seconds, seconds per mm² of tissue and peak RSS."
    tmp = Path(tempfile.mkdtemp(prefix='bench_predict_')) if out is None else None
    out = Path(out) if out is not None else tmp / 'prediction'
    kwargs = {**predict_kwargs, **({'spaceranger': str(spaceranger)} if spaceranger is not None else {})}
    code = CHILD
    for k, v in dict(THREADS=threads, MODEL_DIR=repr(str(model_dir)), IMAGE=repr(str(image)), OUT=repr(str(out)),
                     KWARGS=repr(json.dumps(kwargs))).items():
        code = code.replace(k, str(v))
    try:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t
        if proc.returncode != 0 or 'RESULT' not in proc.stdout:
            raise RuntimeError(f'prediction failed (exit {proc.returncode}); its output:\n{proc.stdout}')
        result = json.loads(proc.stdout.split('RESULT', 1)[1])
    finally:
        if tmp is not None: shutil.rmtree(tmp, ignore_errors=True)
    mm2 = result['in_tissue_bins'] * 4e-6   # 2 µm × 2 µm bins
    return {**result, 'tissue_mm2': round(mm2, 3), 's_per_mm2': round(result['predict_s'] / mm2, 2),
            'predict_s': round(result['predict_s'], 2), 'process_s': round(wall, 2),
            'threads': threads, 'image': str(image),
            'spaceranger': None if spaceranger is None else str(spaceranger), 'model_dir': str(model_dir), **predict_kwargs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', default='tiny', choices=('tiny', 'default', 'full'), help='synthetic slide to predict')
    ap.add_argument('--work', default=None, help='folder for the synthetic studies and the run (default: a temporary one)')
    ap.add_argument('--image', help='predict this H&E instead of a synthetic slide')
    ap.add_argument('--spaceranger', help='its Space Ranger folder (with --image)')
    ap.add_argument('--model_dir', help='a trained run (default: a 1-epoch efficientnet-lite0 run on the tiny study)')
    ap.add_argument('--no_spaceranger', action='store_true', help='synthetic slide: lay the grid on the image instead')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--stride', type=int, default=64)
    ap.add_argument('--block_tiles', type=int, default=4)
    ap.add_argument('--report', default=None, help='write the numbers as JSON here')
    a = ap.parse_args()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix='bench_predict_work_'))
    try:
        t = time.perf_counter()
        run = Path(a.model_dir) if a.model_dir else bench_run(work)
        image, sr = (Path(a.image), a.spaceranger) if a.image else bench_slide(a.size, work)
        if a.no_spaceranger: sr = None
        print(f'set up in {time.perf_counter() - t:.0f} s: run {run}, slide {image}', flush=True)
        r = bench_predict(run, image, spaceranger=sr, threads=a.threads, stride=a.stride, block_tiles=a.block_tiles)
        print(f"{r['tissue_mm2']:.2f} mm² of tissue ({r['in_tissue_bins']:,} bins, grid {r['grid_shape'][0]}×{r['grid_shape'][1]}), "
              f"{r['n_tiles']} tiles in {r['n_blocks']} blocks, {a.threads} thread(s):\n"
              f"  {r['predict_s']:.1f} s predicting ({r['process_s']:.1f} s with start-up) = {r['s_per_mm2']:.2f} s/mm²; "
              f"peak RSS {r['peak_rss_gib'] * 1024:.0f} MiB ({r['rss_after_imports_gib'] * 1024:.0f} MiB after the imports)")
        if a.report:
            Path(a.report).write_text(json.dumps(r, indent=1))
            print(f'report: {a.report}')
    finally:
        if not a.work: shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
