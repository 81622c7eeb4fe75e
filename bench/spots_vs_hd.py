"""How much of the 2 µm map spot supervision recovers: a Visium-trained model vs the HD-trained model and the oracle.

On one synthetic study (`hdexpr synth --assay visium`: the HD study in `hd/`, its Visium spots beside it), train
P1 + P2, test P5:

1. the HD store (`prepare`, 50 genes by 2 µm variance on P1 + P2) and a Poisson run on it (2/4/8/16 µm losses);
2. the spot store (`prepare_spots`, the same genes) and a Poisson run on the spot counts alone (`--no-multiscale`);
3. both decoders scored by the HD evaluation (`evaluate_store`) on the HD store's P5 test patches, beside the constant
   and the oracle; the spot run also at spot level with the constant and the ridge (`evaluate_spot_run`).

Both runs use the same encoder, decoder, learning rate and step budget (chosen small for 2 CPU cores; neither is
claimed converged: read the validation curves in each run's log.csv). `--profile` instead measures wall time and
peak RSS of `prepare_spots` + one epoch (embedding cache included) on the spot study, in a fresh process.

Usage:  python bench/spots_vs_hd.py --out DIR [--size tiny|default] [--epochs 10] [--lr 5e-4] [--report spots.json]
        python bench/spots_vs_hd.py --out DIR --profile
"""
import argparse, json, subprocess, sys, time
from pathlib import Path


def run_study(out: Path, size: str, epochs: int, lr: float, encoder: str) -> dict:
    import numpy as np, torch
    from hdexpr.evaluate import evaluate_run
    from hdexpr.metrics import evaluate_store
    from hdexpr.patches import prepare, read_patches
    from hdexpr.runs import TrainConfig, read_run
    from hdexpr.spot_evaluate import evaluate_spot_run
    from hdexpr.spot_patches import prepare_spots
    from hdexpr.synth_spots import make_spot_study
    from hdexpr.train import fit
    t = {}
    t0 = time.time(); make_spot_study(out / 'study', assay='visium', size=size); t['synth_s'] = time.time() - t0
    t0 = time.time(); hd_store = prepare(out / 'study' / 'hd', out / 'hd_store', progress=False); t['prepare_hd_s'] = time.time() - t0
    t0 = time.time(); sp_store = prepare_spots(out / 'study', out / 'spot_store', genes=hd_store.genes, progress=False)
    t['prepare_spots_s'] = time.time() - t0
    common = dict(encoder=encoder, epochs=epochs, lr=lr, accumulate=1, batch_size=8, warmup_epochs=1.0, patience=epochs)
    t0 = time.time(); fit(TrainConfig(store=str(hd_store.path), **common), out / 'run_hd', resume=True, progress=False); t['train_hd_s'] = time.time() - t0
    t0 = time.time()
    fit(TrainConfig(store=str(sp_store.path), multiscale=False, use_gradnorm=False, **common), out / 'run_spot', resume=True, progress=False)
    t['train_spot_s'] = time.time() - t0
    hd = evaluate_run(out / 'run_hd', progress=False)                    # model (HD), constant, oracle on the HD test patches
    spot = evaluate_spot_run(out / 'run_spot', progress=False)           # spot level + 2/4/8 µm on the spot store's own cells
    run_sp = read_run(out / 'run_spot')
    hd_cache = read_run(out / 'run_hd').cache                            # the HD store's tokens, same encoder

    test_ids = np.flatnonzero(hd_store.patches.patient.to_numpy() == hd_store.test_patient).tolist()
    with torch.no_grad():                                                # the spot-trained decoder on the HD test slide, one graph
        b = read_patches(hd_store, test_ids)
        pred = run_sp.expected_counts(run_sp.decoder(hd_cache.get(test_ids, 0), slide=b['slide'], grid_rc=b['grid_rc']))
    at = {i: k for k, i in enumerate(test_ids)}
    spot_model_on_hd = lambda ids: pred[[at[int(i)] for i in ids]]
    cross = evaluate_store(hd_store, spot_model_on_hd)
    rows = {'HD-trained (Poisson, 2/4/8/16 µm)': hd['model'], 'Visium-trained (Poisson on 55 µm spots)': cross,
            'constant': hd['constant'], 'oracle': hd['oracle']}
    table = {name: {r: m['resolutions'][r]['pcc'] for r in ('8um', '4um', '2um')} for name, m in rows.items()}
    spot_table = {name: spot[name]['resolutions']['spot'] for name in ('model', 'constant', 'ridge', 'oracle')}
    logs = {k: __import__('pandas').read_csv(out / k / 'log.csv').to_dict('list') for k in ('run_hd', 'run_spot')}
    return {'size': size, 'epochs': epochs, 'lr': lr, 'encoder': encoder, 'n_patches': {'hd': len(hd_store), 'spots': len(sp_store)},
            'pcc_on_hd_test_patches': table, 'spot_level': spot_table, 'seconds': t,
            'val_curves': {k: {c: v[c] for c in v if c.startswith('val_pcc')} for k, v in logs.items()}}


PROFILE = """
import json, resource, time
from hdexpr.runs import TrainConfig
from hdexpr.spot_patches import prepare_spots
from hdexpr.train import fit
t0 = time.time(); s = prepare_spots(STUDY, OUT / 'store', progress=False); t1 = time.time()
fit(TrainConfig(store=str(s.path), encoder=ENCODER, epochs=1, multiscale=False, use_gradnorm=False, accumulate=1), OUT / 'run', progress=False)
t2 = time.time()
print(json.dumps({'prepare_spots_s': t1 - t0, 'one_epoch_incl_embedding_s': t2 - t1, 'n_patches': len(s),
                  'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def profile(out: Path, size: str, encoder: str) -> dict:
    from hdexpr.synth_spots import make_spot_study
    make_spot_study(out / 'study', assay='visium', size=size)
    code = (f"from pathlib import Path\nSTUDY, OUT, ENCODER = Path({str(out / 'study')!r}), Path({str(out / 'profile')!r}), {encoder!r}\n" + PROFILE)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if r.returncode: raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1]) | {'size': size, 'encoder': encoder}


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', type=Path, required=True); ap.add_argument('--size', default='tiny')
    ap.add_argument('--epochs', type=int, default=10); ap.add_argument('--lr', type=float, default=5e-4)
    ap.add_argument('--encoder', default='efficientnet-lite0'); ap.add_argument('--profile', action='store_true')
    ap.add_argument('--report', type=Path)
    a = ap.parse_args()
    res = profile(a.out, a.size, a.encoder) if a.profile else run_study(a.out, a.size, a.epochs, a.lr, a.encoder)
    text = json.dumps(res, indent=1, default=float)
    print(text)
    if a.report: a.report.write_text(text)
