"""What `hdexpr reproduce` costs: the wall seconds of each stage, and one training step of the study's model.

    python bench/study_cost.py [--quick] [--results DIR] [--work DIR] [--reps 3]

Stages: runs `hdexpr reproduce` (`--quick`: the tiny chain) into `--work` and reads the table it writes as
it goes (`tables/timings.csv`), or reads that table from an existing results folder (`--results`). The
install is not part of it.

Training step: the study's recipe (`TrainConfig()`: the decoder with its image branch, four levels balanced
by GradNorm, batches of 8, as the recipe trains spots; it trains 2 µm bins in batches of 2) on a batch of the tiny study's patches (every patch is 128 × 128 bins, so a
step costs the same on any study), forward + losses + GradNorm + backward + optimiser step, in fp32, in
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


def native_bf16() -> bool:
    "Whether this CPU computes bf16 natively (AVX512-BF16 or AMX)."
    flags = Path('/proc/cpuinfo').read_text() if Path('/proc/cpuinfo').exists() else ''
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


def step_times(work: Path, *, reps: int) -> dict:
    "Seconds of one training step of the study's model in fp32, bf16, the chosen precision, channels_last, compiled, with torch.stack and with equal weights, timed in turns."
    from run_all import interleaved, summary, tiny_store
    from hdexpr.model.decoder import compile_decoder
    from hdexpr.model.encoders import autocast_dtype
    import hdexpr.model.losses as losses_module
    from hdexpr.model.losses import get_loss
    from hdexpr.store.embeddings import build_embedding_cache
    from hdexpr.store.targets import targets_of
    from hdexpr.train.loop import BatchReader, _forward, _on_batch, _training_state, epoch_batches, run_levels, step_total
    from hdexpr.train.runs import TrainConfig
    store = tiny_store(work)
    device = torch.device('cpu')
    base = TrainConfig(store=str(store.path))
    cache = build_embedding_cache(store, base.encoder, progress=False)
    targets = targets_of(store)
    ids = list(range(len(store)))
    batch = epoch_batches(store, ids, batch_size=base.batch_size)[0]
    tokens, b = BatchReader(store, cache, [batch], image=True)[0]
    on = _on_batch(device, b, targets)
    stats = targets.training_stats(store, ids)
    chosen = autocast_dtype(base.precision, device)
    variants = {'fp32': (None, None), 'bf16': (torch.bfloat16, None),
                f'chosen ({base.precision} -> {"fp32" if chosen is None else chosen})': (chosen, None),
                'fp32, channels_last': (None, 'channels_last'), 'fp32, torch.compile': (None, 'compile'),
                'fp32, torch.stack (before stack_tasks)': (None, 'torch.stack'), 'fp32, equal weights (no GradNorm)': (None, 'equal')}
    fns = {}
    for name, (dtype, how) in variants.items():
        cfg = replace(base, use_gradnorm=False) if how == 'equal' else base
        levels = run_levels(cfg, targets)
        model, loss_module, gradnorm, opt, _ = _training_state(cfg, in_dim=cache.dim, stats=stats, n_train=len(ids), levels=levels, device=device)
        x, xb = tokens, b
        if how == 'channels_last':
            model.to(memory_format=torch.channels_last)
            x, xb = tokens.contiguous(memory_format=torch.channels_last), {**b, 'image': b['image'].contiguous(memory_format=torch.channels_last)}
        if how == 'compile': compile_decoder(model)
        loss = get_loss(base.loss)
        stack = (lambda ls: torch.stack(list(ls))) if how == 'torch.stack' else losses_module.stack_tasks
        def step(model=model, loss_module=loss_module, gradnorm=gradnorm, opt=opt, dtype=dtype, levels=levels, loss=loss, x=x, xb=xb, stack=stack):
            out = _forward(model, x, xb, device=device, dtype=dtype)
            kept, losses_module.stack_tasks = losses_module.stack_tasks, stack
            try: losses = targets.losses(out, on, loss=loss, loss_module=loss_module, stats=stats, levels=levels)
            finally: losses_module.stack_tasks = kept
            step_total(losses, gradnorm, model).backward()   # as `train_epoch` does
            if gradnorm is not None: gradnorm.update()
            opt.step(); opt.zero_grad()
        fns[name] = step
    slow_bf16 = not native_bf16()
    bf16 = fns.pop('bf16')
    t = time.perf_counter(); fns['fp32, torch.compile'](); compile_s = time.perf_counter() - t   # the first step compiles
    times = interleaved(fns, reps=reps)
    times['bf16'] = interleaved({'bf16': bf16}, reps=1 if slow_bf16 else reps)['bf16']
    row = {k: summary(v) for k, v in times.items()}
    fp32 = row['fp32']['median_s']
    for v in row.values(): v['ratio_to_fp32'] = round(v['median_s'] / fp32, 2)
    return {'batch': len(batch), 'levels': list(levels), 'image_branch': True, 'threads': torch.get_num_threads(),
            'native_bf16': not slow_bf16, 'compile_s': round(compile_s, 1), 'steps': row}


def markdown(report: dict) -> str:
    s = report['step']
    lines = ['## The study\'s cost', '', f"Training step of the study's model (batch {s['batch']}, levels {', '.join(s['levels'])} "
             f"with GradNorm, image branch), {s['threads']} thread(s), CPU native bf16: {s['native_bf16']}; the compiled model's "
             f"first step (compiling) took {s['compile_s']} s:", '',
             '| variant | median s per step | runs | × fp32 |', '|---|--:|--:|--:|']
    lines += [f"| {k} | {v['median_s']} | {v['runs']} | {v['ratio_to_fp32']} |" for k, v in s['steps'].items()]
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
    ap.add_argument('--out', default='study_cost', help='report path without suffix: writes OUT.json and OUT.md')
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix='hdexpr_study_cost_'))
    report = {'step': step_times(work, reps=a.reps)}
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
