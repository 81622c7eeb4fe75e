"""The built-in nuclei segmentation's seed spacing, chosen on the training patients of a synthetic study.

`hdexpr.predict.cells.segment_nuclei` seeds its watershed at distance-transform peaks at least `seed_um` apart
(`SEED_UM`). This scores each candidate spacing by nuclei matching F1 (IoU > 0.5, `match_f1`) against the
generator's true nuclei (`true_cells`) on the training patients (P1, P2), picks the best mean, and only then
scores the test patient (P5) once, with the chosen spacing and with the current `SEED_UM` beside it. Each
slide is segmented whole at the working resolution `cells_from_he` uses, with its slide-wide threshold.

Usage:  python bench/nuclei_seeds.py --study DIR [--train P1 P2] [--test P5] [--seeds 1.5 2 2.5 3 4 5] [--report FILE]

DIR is a synthetic study (`hdexpr synth --out DIR`, default size).
"""
import argparse, json, math, time
from pathlib import Path

import numpy as np

from hdexpr.predict.cells import SEED_UM, SEGMENT_UM, match_f1, segment_nuclei, slide_threshold
from hdexpr.synth.cells import true_cells
from hdexpr.io.image import HEImage, shrink_rgb


def slide_f1s(sample_dir: Path, seeds: list[float]) -> dict:
    "F1 of each seed spacing in `seeds` on one synthetic sample, segmented whole at the working resolution."
    he = HEImage(next(sample_dir.glob('*_tissue_image.tif')))
    mpp = json.loads((sample_dir / 'truth' / 'params.json').read_text())['microns_per_pixel']
    f = max(1, round(SEGMENT_UM / mpp))
    H, W = he.shape
    rgb = he.read_region(0, 0, H, W)
    threshold = slide_threshold(he, [(0, 0, max(H, W))], f)
    true_nuclei = true_cells(sample_dir)[0]
    if f > 1: rgb, true_nuclei = shrink_rgb(rgb, f), true_nuclei[f // 2::f, f // 2::f][:math.ceil(H / f), :math.ceil(W / f)]
    return {s: match_f1(true_nuclei, segment_nuclei(rgb, mpp * f, threshold=threshold, seed_um=s))['f1'] for s in seeds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--study', required=True, type=Path)
    ap.add_argument('--train', nargs='+', default=['P1', 'P2'])
    ap.add_argument('--test', default='P5')
    ap.add_argument('--seeds', nargs='+', type=float, default=[1.5, 2.0, 2.5, 3.0, 4.0, 5.0])
    ap.add_argument('--report', type=Path)
    a = ap.parse_args()
    t0 = time.perf_counter()
    train = {}
    for p in a.train:
        train[p] = slide_f1s(a.study / p, a.seeds)
        print(p, {s: round(v, 3) for s, v in train[p].items()}, flush=True)
    mean = {s: float(np.mean([train[p][s] for p in a.train])) for s in a.seeds}
    tied = [s for s in a.seeds if mean[s] >= max(mean.values()) - 1e-9]   # spacings that round to the same pixels tie
    chosen = SEED_UM if SEED_UM in tied else tied[0]
    test = slide_f1s(a.study / a.test, sorted({chosen, SEED_UM}))
    report = {'train_f1': train, 'train_mean_f1': mean, 'tied_best': tied, 'chosen_seed_um': chosen, 'current_seed_um': SEED_UM,
              'test_patient': a.test, 'test_f1': test, 'seconds': round(time.perf_counter() - t0, 1)}
    print(f"chosen on {'+'.join(a.train)}: seed_um {chosen} (mean F1 {mean[chosen]:.3f}; best: {tied}); "
          f"{a.test}: F1 {test[chosen]:.3f} (current SEED_UM {SEED_UM}: {test[SEED_UM]:.3f})")
    print(json.dumps(report))
    if a.report: a.report.write_text(json.dumps(report, indent=1))


if __name__ == '__main__':
    main()
