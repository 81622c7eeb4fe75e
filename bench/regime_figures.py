"""Figures of real spot data, measured on a spot study: what the synthetic `hard` regime is set from and checked against.

Issue 21 measured real legacy-ST sections of HER2+ breast cancer (100 µm spots on a 200 µm pitch, 50 genes by
variance on the training sections) and wrote down, besides what models scored, figures of the counts alone:
`REAL_ST` below. This script measures the same figures on any spot study that `hdexpr prepare` reads (a folder with
manifest.csv: a synthetic study of `hdexpr synth --assay st [--regime hard]`, or your own Visium, ST or HEST samples),
so a synthetic regime can be set from the real figures, and your data compared with both, without training anything.

- depth: each spot's total UMI over all genes; its median and coefficient of variation over every spot of the study;
- the 50 genes of largest count variance over the training patients' spots (all patients but the test one):
  their zero fraction, the negative-binomial θ of each by moments (μ² / (var − μ), over every spot; the median over
  genes), and the PCC of each gene's counts with the spot's depth within each section (the mean over genes, then
  over sections).

Usage:  python bench/regime_figures.py STUDY [STUDY ...] [--test_patient P5] [--report figures.json]
"""
import argparse, json
from pathlib import Path

import numpy as np

REAL_ST = {'median_depth': 10_143, 'depth_cv': 0.64, 'zero_fraction': 0.023, 'theta': 1.7, 'gene_depth_pcc': 0.83}   # issue 21


def spot_counts(study) -> dict:
    "Counts (spots × genes, float64) and gene names of each sample of `study`, by patient: {patient: [(counts, genes), ...]}."
    from hdexpr.io.manifest import read_manifest
    from hdexpr.store.spots import _spot_sample
    out = {}
    for row in read_manifest(study).itertuples():
        s = _spot_sample(row)[0]
        out.setdefault(row.patient, []).append((s.counts.toarray().astype(np.float64), list(s.genes)))
    return out


def figures(study, test_patient: str = 'P5') -> dict:
    "The figures of `REAL_ST`, measured on `study` (the genes chosen on every patient but `test_patient`)."
    samples = spot_counts(study)
    genes = sorted(set.intersection(*[set(g) for ss in samples.values() for _, g in ss]))
    sections = [(p, c[:, [g.index(x) for x in genes]], c.sum(1)) for p, ss in samples.items() for c, g in ss]
    train = np.vstack([c for p, c, _ in sections if p != test_patient])
    top = np.argsort(-train.var(0))[:50]
    depth = np.concatenate([d for *_, d in sections]); top_counts = np.vstack([c[:, top] for _, c, _ in sections])
    mu, var = top_counts.mean(0), top_counts.var(0)
    pcc = [np.nanmean([np.corrcoef(c[:, j], d)[0, 1] for j in top if c[:, j].std() > 0]) for _, c, d in sections]
    return {'median_depth': float(np.median(depth)), 'depth_cv': float(depth.std() / depth.mean()),
            'zero_fraction': float((top_counts == 0).mean()), 'theta': float(np.median(mu ** 2 / np.maximum(var - mu, 1e-12))),
            'gene_depth_pcc': float(np.mean(pcc)), 'spots': len(depth), 'sections': len(sections)}


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('studies', type=Path, nargs='+'); ap.add_argument('--test_patient', default='P5'); ap.add_argument('--report', type=Path)
    a = ap.parse_args()
    rows = {'real ST (issue 21)': REAL_ST} | {str(s): figures(s, a.test_patient) for s in a.studies}
    keys = list(REAL_ST)
    print('| study | ' + ' | '.join(keys) + ' |\n|:--|' + '--:|' * len(keys))
    for name, f in rows.items(): print(f'| {name} | ' + ' | '.join(f'{f[k]:,.0f}' if k == 'median_depth' else f'{f[k]:.3f}' for k in keys) + ' |')
    if a.report: a.report.write_text(json.dumps(rows, indent=1))
