"""What `hdexpr reproduce` costs: the wall seconds of each stage, and one training step of the study's model.

    python bench/study_cost.py [--quick] [--results DIR] [--work DIR] [--reps 3]

Stages: runs `hdexpr reproduce` (`--quick`: the tiny chain) into `--work` and reads the table it writes as
it goes (`tables/timings.csv`), or reads that table from an existing results folder (`--results`). The
install is not part of it.

Side by side: the same step in batches of 2 (the study's on 2 µm bins), so many steps in one process with every core,
then as many one-thread processes as cores side by side, each taking that many steps (how `fit_runs` trains the study's
runs on a CPU): the throughput ratio.

Training step: the study's recipe (`TrainConfig()`: the decoder with its image branch, four levels balanced
by GradNorm) in the batches it trains 2 µm bins in (2) on a batch of the tiny study's patches (every patch is 128 × 128
bins, so a step costs the same on any study), forward + losses + GradNorm + backward + optimiser step, in fp32, in
bf16 autocast, in the precision `auto` resolves to here, and in fp32 with the model and inputs in `channels_last`
and with the decoder compiled (`compile_decoder`, its compiling step reported apart), and in fp32 with the scale
losses stacked by a plain `torch.stack` (what `stack_tasks` replaced: GradNorm's per-level backward then ran every
level's graph), and in fp32 with the levels weighted equally (`use_gradnorm=False`: no per-level backward), timed in
turns in one process. On a CPU
without native bf16 (no AVX512-BF16 or AMX) autocast emulates it and is an order of magnitude slower;
then bf16 is timed once, and the report says so.
"""
from __future__ import annotations

import argparse, json, subprocess, sys, tempfile, time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))


def stage_table(results: Path) -> pd.DataFrame:
    "The per-stage wall seconds that `reproduce` wrote into `results`."
    f = results / 'tables' / 'timings.csv'
    if not f.exists(): raise SystemExit(f'study_cost: {f} does not exist; pass the --out folder of a finished `hdexpr reproduce`')
    return pd.read_csv(f)


def run_reproduce(work: Path, *, quick: bool) -> tuple[Path, float]:
    "Run `hdexpr reproduce` into `work/results` as a user would; its folder and the command's wall seconds."
    out = work / 'results'
    cmd = [str(Path(sys.executable).parent / 'hdexpr'), 'reproduce', '--out', str(out), *(['--quick'] if quick else [])]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return out, time.perf_counter() - t


def study_bins_batch() -> int:
    "The batch size the study's recipe trains 2 µm bins in."
    from hdexpr.train.recipes import RECIPES
    return RECIPES['study'].by_supervision['bins']['batch_size']


def study_batch(work: Path, batch_size: int) -> dict:
    "What a training step of the study's model needs, built once: the tiny study's store, its tokens and first batch of `batch_size` patches, the statistics."
    from run_all import tiny_store
    from hdexpr.store.embeddings import build_embedding_cache
    from hdexpr.store.targets import targets_of
    from hdexpr.train.loop import BatchReader, _on_batch, epoch_batches
    from hdexpr.train.runs import TrainConfig
    store = tiny_store(work)
    base = TrainConfig(store=str(store.path))
    cache = build_embedding_cache(store, base.encoder, progress=False)
    targets, ids = targets_of(store), list(range(len(store)))
    batch = epoch_batches(store, ids, batch_size=batch_size)[0]
    tokens, b = BatchReader(store, cache, [batch], image=True)[0]
    return {'base': base, 'cache': cache, 'targets': targets, 'ids': ids, 'batch': batch, 'tokens': tokens, 'b': b,
            'on': _on_batch(torch.device('cpu'), b, targets), 'stats': targets.training_stats(store, ids)}


def study_step(parts: dict, *, dtype=None, how: str | None = None):
    """One training step of the study's model on `parts` (`study_batch`), as `train_epoch` takes it: forward, losses, GradNorm,
    backward, optimiser step; `how` is a variant ('channels_last', 'compile', 'torch.stack' or 'equal' weights)."""
    from hdexpr.model.decoder import compile_decoder
    import hdexpr.model.losses as losses_module
    from hdexpr.model.losses import get_loss
    from hdexpr.train.loop import _forward, _training_state, run_levels, step_total
    base, targets, stats, on, device = parts['base'], parts['targets'], parts['stats'], parts['on'], torch.device('cpu')
    cfg = replace(base, use_gradnorm=False) if how == 'equal' else base
    levels = run_levels(cfg, targets)
    model, loss_module, gradnorm, opt, _ = _training_state(cfg, in_dim=parts['cache'].dim, stats=stats, n_train=len(parts['ids']),
                                                           levels=levels, device=device)
    x, xb = parts['tokens'], parts['b']
    if how == 'channels_last':
        model.to(memory_format=torch.channels_last)
        x, xb = x.contiguous(memory_format=torch.channels_last), {**xb, 'image': xb['image'].contiguous(memory_format=torch.channels_last)}
    if how == 'compile': compile_decoder(model)
    loss = get_loss(base.loss)
    stack = (lambda ls: torch.stack(list(ls))) if how == 'torch.stack' else losses_module.stack_tasks
    def step():
        out = _forward(model, x, xb, device=device, dtype=dtype)
        kept, losses_module.stack_tasks = losses_module.stack_tasks, stack
        try: losses = targets.losses(out, on, loss=loss, loss_module=loss_module, stats=stats, levels=levels)
        finally: losses_module.stack_tasks = kept
        step_total(losses, gradnorm, model).backward()   # as `train_epoch` does
        if gradnorm is not None: gradnorm.update()
        opt.step(); opt.zero_grad()
    return step


def step_times(work: Path, *, reps: int) -> dict:
    "Seconds of one training step of the study's model in fp32, bf16, the chosen precision, channels_last, compiled, with torch.stack and with equal weights, timed in turns."
    from run_all import interleaved, summary
    from hdexpr.model.encoders import autocast_dtype, native_bf16
    parts = study_batch(work, study_bins_batch())
    chosen = autocast_dtype(parts['base'].precision, torch.device('cpu'))
    variants = {'fp32': (None, None), 'bf16': (torch.bfloat16, None),
                f'chosen ({parts["base"].precision} -> {"fp32" if chosen is None else chosen})': (chosen, None),
                'fp32, channels_last': (None, 'channels_last'), 'fp32, torch.compile': (None, 'compile'),
                'fp32, torch.stack (before stack_tasks)': (None, 'torch.stack'), 'fp32, equal weights (no GradNorm)': (None, 'equal')}
    fns = {name: study_step(parts, dtype=dtype, how=how) for name, (dtype, how) in variants.items()}
    slow_bf16 = not native_bf16('cpu')
    bf16 = fns.pop('bf16')
    t = time.perf_counter(); fns['fp32, torch.compile'](); compile_s = time.perf_counter() - t   # the first step compiles
    times = interleaved(fns, reps=reps)
    times['bf16'] = interleaved({'bf16': bf16}, reps=1 if slow_bf16 else reps)['bf16']
    row = {k: summary(v) for k, v in times.items()}
    fp32 = row['fp32']['median_s']
    for v in row.values(): v['ratio_to_fp32'] = round(v['median_s'] / fp32, 2)
    from hdexpr.train.loop import run_levels
    return {'batch': len(parts['batch']), 'levels': list(run_levels(parts['base'], parts['targets'])), 'image_branch': True, 'threads': torch.get_num_threads(),
            'native_bf16': not slow_bf16, 'compile_s': round(compile_s, 1), 'steps': row}


STEPS = """
import json, sys, time, torch
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from study_cost import study_batch, study_step
torch.set_num_threads(int(sys.argv[3]))
step = study_step(study_batch(Path(sys.argv[2]), int(sys.argv[5])))
step()
t = time.perf_counter()
for _ in range(int(sys.argv[4])): step()
stop.set()
print('RESULT ' + json.dumps({'seconds': time.perf_counter() - t}))
"""


def side_by_side_times(work: Path, *, steps: int) -> dict:
    """Steps a second of the study's model (fp32, in the batches the study trains 2 µm bins in), one process using every core
    against one process per core side by side (`fit_runs`' way on a CPU), each in a fresh Python: the throughput ratio of the two."""
    from child import run_children
    from hdexpr.train.distributed import cpu_threads
    cores, batch = cpu_threads(), study_bins_batch()
    alone = run_children(STEPS, [(BENCH, work, cores, steps, batch)])[0]['seconds']
    apart = run_children(STEPS, [(BENCH, work, 1, steps, batch)] * cores)
    return {'cores': cores, 'batch': batch, 'steps_each': steps, 'alone_s': round(alone, 1), 'side_by_side_s': [round(r['seconds'], 1) for r in apart],
            'throughput_ratio': round(cores * steps / max(r['seconds'] for r in apart) / (steps / alone), 2)}


def markdown(report: dict) -> str:
    s = report['step']
    lines = ['## The study\'s cost', '', f"Training step of the study's model (batch {s['batch']}, levels {', '.join(s['levels'])} "
             f"with GradNorm, image branch), {s['threads']} thread(s), CPU native bf16: {s['native_bf16']}; the compiled model's "
             f"first step (compiling) took {s['compile_s']} s:", '',
             '| variant | median s per step | runs | × fp32 |', '|---|--:|--:|--:|']
    lines += [f"| {k} | {v['median_s']} | {v['runs']} | {v['ratio_to_fp32']} |" for k, v in s['steps'].items()]
    if 'side_by_side' in report:
        p = report['side_by_side']
        lines += ['', f"{p['steps_each']} steps (fp32, batches of {p['batch']}) in one process with {p['cores']} threads: {p['alone_s']} s; in {p['cores']} one-thread "
                  f"processes side by side, {p['steps_each']} each: {', '.join(map(str, p['side_by_side_s']))} s; throughput "
                  f"× {p['throughput_ratio']} side by side (`fit_runs`, `53_recipes`)."]
    if 'stages' in report:
        lines += ['', f"Stages of `{report['reproduce']}` (wall s; install excluded; all runs: every run into the folder):", '',
                  '| stage | seconds, last run | all runs |', '|---|--:|--:|']
        lines += [f"| {r['stage']} | {r['seconds']} | {r['all runs']} |" for r in report['stages']]
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='the tiny chain (`reproduce --quick`) instead of the default study')
    ap.add_argument('--results', help='read the stage table of this finished reproduce results folder instead of running one')
    ap.add_argument('--no-stages', action='store_true', help='time the training step only')
    ap.add_argument('--work', help='folder for the tiny store and the reproduction (default: a new temporary one)')
    ap.add_argument('--reps', type=int, default=3, help='timed steps per precision')
    ap.add_argument('--steps', type=int, default=20, help='steps each process takes in the side-by-side measurement')
    ap.add_argument('--out', default='study_cost', help='report path without suffix: writes OUT.json and OUT.md')
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix='hdexpr_study_cost_'))
    report = {'step': step_times(work, reps=a.reps), 'side_by_side': side_by_side_times(work, steps=a.steps)}
    if not a.no_stages:
        if a.results: results, wall = Path(a.results), None
        else: results, wall = run_reproduce(work, quick=a.quick)
        report['reproduce'] = f"hdexpr reproduce{' --quick' if a.quick else ''}" + (f', {wall:.0f} s wall' if wall else f' in {results}')
        report['stages'] = stage_table(results).to_dict('records')
    Path(f'{a.out}.json').write_text(json.dumps(report, indent=1))
    Path(f'{a.out}.md').write_text(markdown(report))
    print(markdown(report))


if __name__ == '__main__':
    main()
