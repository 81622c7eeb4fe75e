"""Which decoder the study's recipe chooses on spots, and whether its choice beats the ridge: from scratch against from the ridge.

On the synthetic spot study of each regime (`hdexpr synth --assay visium|st [--regime hard]`), train P1 + P2, test P5,
the study's recipe end to end on the spot store (the HD store's 50 genes, as `spots_vs_hd.py`). On spots the recipe
holds out whole bands of patch rows for validation (`val_split='blocks'`: no validation patch overlaps a training
one) and trains both of its decoders there in full, each with its learning rate chosen on that split: from scratch
(`probe: off`) and from the ridge (`probe: ridge`, the probe in closed form). The run is the one whose kept epoch
validates higher (`decoders.json`). Each candidate is scored on P5's test spots (`evaluate_run`: raw, normalised
and depth PCC, and the model − ridge interval of paired bootstrap draws of the spots) and on the HD truth at 2 µm.

Usage:  python bench/spot_start.py --out DIR [--assay visium|st] [--regimes default hard] [--val_split blocks] [--quick]
"""
import argparse, json
from pathlib import Path

from spots_vs_hd import _fit, _summary

SCORES = ('pcc', 'pcc_normalised', 'pcc_depth')   # raw, normalised and depth PCC at spot level
BASELINES = {'ridge': 'ridge on pooled tokens', 'depth': 'depth only (reads the test truth)', 'oracle': 'oracle'}


def run_regime(out: Path, *, assay: str, regime: str, settings: dict, quick: bool) -> dict:
    "The recipe's run on one regime's spot study: per decoder it chose among, the validation, kept epoch, spot and 2 µm scores and lead over the ridge."
    from dataclasses import replace
    from hdexpr.evaluate.score import evaluate_run
    from hdexpr.store.prepare import prepare
    from hdexpr.synth.spots import make_spot_study
    from hdexpr.train.recipes import RECIPES, smoke
    study_recipe = RECIPES['study']
    recipe = replace(smoke(study_recipe), by_supervision={'spots': study_recipe.by_supervision['spots']}) if quick else study_recipe
    study = make_spot_study(out / 'study', assay=assay, size='tiny' if quick else 'default', regime=regime).parent
    hd_store = prepare(study / 'hd', out / 'hd_store', progress=False)
    store = prepare(study, out / 'spot_store', genes=hd_store.genes, progress=False)
    run, rows = out / 'run', {}
    fitted = _fit(recipe, run, store=str(store.path), **settings)
    choice = json.loads((run / 'decoders.json').read_text())
    for name in choice['decoders']:
        candidate = run.with_name(f'{run.name}_decoders') / name
        scored = evaluate_run(candidate, progress=False)
        m = scored['model']
        rows[name] = {**_summary(candidate), 'validation': m['validation']['spot'],
                      'spot': {k: m['resolutions']['spot'][k] for k in SCORES},
                      '2um': m['resolutions']['2um']['pcc'], 'against_ridge': m['against_ridge']['spot']}
    base = {name: {k: scored[name]['resolutions']['spot'][k] for k in SCORES} for name in ('ridge', 'depth', 'oracle')}
    return {'chosen': choice['chosen'], 'seconds': fitted['seconds'], 'val_split': recipe.train_config(store=str(store.path), **settings).val_split,
            'runs': rows, 'baselines': base, 'oracle_2um': scored['oracle']['resolutions']['2um']['pcc']}


def markdown(report: dict) -> str:
    lines = [f"{report['assay']}, P5's test spots; model − ridge: 95 % interval of paired draws", '',
             '| regime (validation split), decoder | validation (kept epoch) | raw | normalised | depth | 2 µm (HD truth) | model − ridge: raw | normalised | depth |',
             '|:--|--:|--:|--:|--:|--:|--:|--:|--:|']
    for regime, r in report['regimes'].items():
        for start, run in r['runs'].items():
            mark = ' (**chosen**)' if start == r['chosen'] else ''
            lead = [f"{run['against_ridge'][k]['difference']:+.3f} [{run['against_ridge'][k]['low']:+.3f}, {run['against_ridge'][k]['high']:+.3f}]" for k in SCORES]
            lines.append(f"| {regime} ({r['val_split']}), {start}{mark} | {run['validation']:.3f} ({run['best_epoch']} of {run['last_epoch']}) | "
                         + ' | '.join(f"{run['spot'][k]:.3f}" for k in SCORES) + f" | {run['2um']:.3f} | " + ' | '.join(lead) + ' |')
        for name, b in r['baselines'].items():
            lines.append(f"| {regime}, {BASELINES[name]} | | " + ' | '.join(f'{b[k]:.3f}' for k in SCORES) + (f" | {r['oracle_2um']:.3f}" if name == 'oracle' else ' |') + ' | | | |')
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', required=True, help='folder for the studies, stores, runs and the report (spot_start.json, .md)')
    ap.add_argument('--assay', default='visium', choices=('visium', 'st'))
    ap.add_argument('--regimes', nargs='+', default=['default', 'hard'], choices=('default', 'hard'))
    ap.add_argument('--val_split', help="how the runs hold out their validation patches (random, blocks, sections, patients; default: the recipe's, blocks on spots)")
    ap.add_argument('--quick', action='store_true', help='the tiny study and the smoke recipe: a test of the chain, numbers meaningless')
    a = ap.parse_args()
    out = Path(a.out)
    settings = {} if a.val_split is None else {'val_split': a.val_split}
    report = {'assay': a.assay, 'regimes': {r: run_regime(out / r, assay=a.assay, regime=r, settings=settings, quick=a.quick) for r in a.regimes}}
    (out / 'spot_start.json').write_text(json.dumps(report, indent=1))
    (out / 'spot_start.md').write_text(markdown(report))
    print(markdown(report))


if __name__ == '__main__':
    main()
