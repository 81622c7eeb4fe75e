"""How much of the 2 µm map spot supervision recovers: Visium- and ST-trained models vs the HD-trained model and the oracle.

On the synthetic study (`hdexpr synth --assay visium|st`: the HD study in `hd/`, its spots beside it), train P1 + P2,
test P5, each model with the study's recipe (`hdexpr.train.recipes.RECIPES['study']`: the learning rate chosen on
the validation split of P1 + P2 by `fit_sweep`, early stopping on that split):

1. the HD store (`prepare`, 50 genes by 2 µm variance on P1 + P2) and a Poisson run on it (2/4/8/16 µm losses);
2. for each spot assay, its store (`prepare` of the spot study, the same genes) and a Poisson run on the spot counts alone;
3. every decoder scored by the HD evaluation (`evaluate_store`) on the HD store's P5 test patches, beside the constant
   and the oracle; each spot run also at spot level with the constant, the ridge and the oracle (`evaluate_run`).

The report keeps each run's chosen learning rate, best and last epoch and validation curve: a run whose curve has
not flattened is not converged, whatever its number. `--regime hard` makes the studies of the regime whose H&E shows less (`10_synth_tissue`, `14_synth_spots`). `--quick` runs the same chain with a tiny random encoder and
one epoch (a smoke test, no science). `--profile` instead measures wall time and peak RSS of `prepare` + one
epoch (embedding cache included) on the Visium spot study, in a fresh process.

Usage:  python bench/spots_vs_hd.py --out DIR [--size tiny|default] [--regime default|hard] [--assays visium st] [--quick] [--report spots.json]
        python bench/spots_vs_hd.py --out DIR --profile
"""
import argparse, json, subprocess, sys, time
from pathlib import Path


def _summary(out: Path) -> dict:
    "What the report keeps of a trained run: its chosen learning rate, best and last epoch, and validation curve."
    import pandas as pd
    from hdexpr.evaluate.figures import best_epoch, score_column
    log = pd.read_csv(out / 'log.csv')
    return {'lr': json.loads((out / 'sweep.json').read_text())['chosen_lr'], 'best_epoch': best_epoch(log),
            'last_epoch': int(log.epoch.iloc[-1]), 'val_curve': log[score_column(log)].round(4).tolist()}


def _fit(recipe, out: Path, **settings) -> dict:
    "Train with `recipe` (its learning-rate choice) and `settings`; what the report keeps of the run, and its seconds."
    t0 = time.time()
    print(f'training {out.name} (learning rate chosen on the validation split; its log.csv grows per epoch)', file=sys.stderr, flush=True)
    recipe.fit(out, progress=False, **settings)
    return {'seconds': round(time.time() - t0, 1), **_summary(out)}


def run_study(out: Path, size: str, regime: str, assays: list[str], encoder: str, quick: bool) -> dict:
    import numpy as np, torch
    from hdexpr.evaluate.score import evaluate_run
    from hdexpr.train.metrics import evaluate_store
    from hdexpr.store.targets import read_patches
    from hdexpr.store.prepare import prepare
    from hdexpr.train.recipes import RECIPES, smoke
    from hdexpr.train.runs import read_run
    from hdexpr.synth.spots import make_spot_study
    recipe = smoke(RECIPES['study']) if quick else RECIPES['study']
    settings = {} if quick else {'encoder': encoder}
    config = recipe.train_config(**settings)
    t0 = time.time(); studies = {a: make_spot_study(out / f'study_{a}', assay=a, size=size, regime=regime).parent for a in assays}
    seconds = {'synth': round(time.time() - t0, 1)}
    hd_store = prepare(studies[assays[0]] / 'hd', out / 'hd_store', progress=False)     # every spot study holds the same HD study
    runs = {'hd': _fit(recipe, out / 'run_hd', store=str(hd_store.path), **settings)}
    hd = evaluate_run(out / 'run_hd', progress=False)                    # model (HD), constant, oracle on the HD test patches
    hd_cache = read_run(out / 'run_hd').cache                            # the HD store's tokens, same encoder
    test_ids = np.flatnonzero(hd_store.patches.patient.to_numpy() == hd_store.test_patient).tolist()
    b = read_patches(hd_store, test_ids, image=config.decoder.get('image_branch', False))   # the H&E too, for an image branch
    rows = {'HD-trained (Poisson, 2/4/8/16 µm)': hd['model']}
    spot_level = {}
    for a in assays:
        sp_store = prepare(studies[a], out / f'spot_store_{a}', genes=hd_store.genes, progress=False)
        runs[a] = _fit(recipe, out / f'run_{a}', store=str(sp_store.path), **settings)
        spot = evaluate_run(out / f'run_{a}', progress=False)            # spot level + 2/4/8 µm on the spot store's own cells
        spot_level[a] = {name: spot[name]['resolutions']['spot'] for name in ('model', 'constant', 'depth', 'ridge', 'oracle')}
        run_sp = read_run(out / f'run_{a}')
        with torch.no_grad():                                            # the spot-trained decoder on the HD test slide, one graph
            pred = run_sp.expected_counts(run_sp.decoder(hd_cache.get(test_ids, 0), slide=b['slide'], grid_rc=b['grid_rc'], image=b.get('image')))
        at = {i: k for k, i in enumerate(test_ids)}
        rows[f'{a}-trained (Poisson on {a} spots)'] = evaluate_store(hd_store, lambda ids: pred[[at[int(i)] for i in ids]])
    rows.update(constant=hd['constant'], oracle=hd['oracle'])
    table = {name: {r: m['resolutions'][r]['pcc'] for r in ('8um', '4um', '2um')} for name, m in rows.items()}
    return {'size': size, 'regime': regime, 'encoder': config.encoder, 'quick': quick, 'n_patches': {'hd': len(hd_store)},
            'pcc_on_hd_test_patches': table, 'spot_level': spot_level, 'runs': runs, 'seconds': seconds}


PROFILE = """
import json, resource, time
from hdexpr.train.runs import TrainConfig
from hdexpr.store.prepare import prepare
from hdexpr.train.loop import fit
t0 = time.time(); s = prepare(STUDY, OUT / 'store', progress=False); t1 = time.time()
fit(TrainConfig(store=str(s.path), encoder=ENCODER, epochs=1), OUT / 'run', progress=False)
t2 = time.time()
print(json.dumps({'prepare_s': t1 - t0, 'one_epoch_incl_embedding_s': t2 - t1, 'n_patches': len(s),
                  'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def profile(out: Path, size: str, encoder: str) -> dict:
    from hdexpr.synth.spots import make_spot_study
    make_spot_study(out / 'study', assay='visium', size=size)
    code = (f"from pathlib import Path\nSTUDY, OUT, ENCODER = Path({str(out / 'study')!r}), Path({str(out / 'profile')!r}), {encoder!r}\n" + PROFILE)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if r.returncode: raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1]) | {'size': size, 'encoder': encoder}


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', type=Path, required=True); ap.add_argument('--size', default='tiny'); ap.add_argument('--regime', default='default')
    ap.add_argument('--assays', nargs='+', default=['visium', 'st']); ap.add_argument('--quick', action='store_true')
    ap.add_argument('--encoder', default='efficientnet-lite0'); ap.add_argument('--profile', action='store_true')
    ap.add_argument('--report', type=Path)
    a = ap.parse_args()
    res = profile(a.out, a.size, a.encoder) if a.profile else run_study(a.out, a.size, a.regime, a.assays, a.encoder, a.quick)
    text = json.dumps(res, indent=1, default=float)
    print(text)
    if a.report: a.report.write_text(text)
