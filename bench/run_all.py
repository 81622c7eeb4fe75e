"""Every hdexpr benchmark in one run, side by side, into one JSON + Markdown report.

    python bench/run_all.py [--quick] [--out bench_report] [--work DIR] [--only NAME ...] [--threads 1] [--[no-]compile]

writes `<out>.json` and `<out>.md`. Each benchmark measures its alternatives in the same run
(interleaved where they share a process), so the ratios compare like with like even on a
busy machine; a benchmark that cannot run here says why instead of a number.

| name | what is compared |
|---|---|
| embedding | encoder throughput: the CPU default (efficientnet-lite0, batch 16) in fp32 vs bf16 autocast; Virchow2's architecture (random weights, batch 64) in fp32 vs bf16 on CUDA |
| cache | a training step from the embedding cache vs re-encoding the images (`bench/embed_cache.py`) |
| decoder | decoder forward + backward, batch of 8 neighbours: fp32 vs bf16 autocast vs channels-last (vs `torch.compile`, not with --quick) |
| prepare | streamed vs naive (scanpy) reading of the counts, with each one's peak RSS, and the whole `prepare` (`bench/prepare_full.py`) |
| predict | whole-slide prediction, seconds per mm² of tissue (`bench/predict_slide.py`, when `hdexpr.predict.slide` exists) |
| ddp | 1 vs 2 DDP processes (CPU, gloo): seconds per epoch and the largest weight difference after the same run |
| study | one training step of the study's model in fp32 vs bf16 vs the chosen precision (`bench/study_cost.py`, which also times `reproduce`'s stages) |

`--quick` (about 3 minutes on 2 busy CPU cores) uses the tiny synthetic study everywhere, fewer
repetitions and no compilation (`--compile` puts it back: a minute or two per compiled model
on a CPU); without it, `prepare` runs on the full-size study (3 × 3250²
bins × 18,000 genes: generated once into --work, which takes long) and prediction on the
default-size slide. The report names the sizes used.
"""
from __future__ import annotations

import argparse, datetime, importlib.util, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time, traceback
from dataclasses import asdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import torch

import study_cost

NAMES = ('embedding', 'cache', 'decoder', 'prepare', 'predict', 'ddp', 'study')


def cuda_sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()


def interleaved(fns: dict, *, reps: int, warmup: int = 1) -> dict:
    "Wall seconds of each of `fns`, `reps` times, the alternatives taking turns (after `warmup` untimed rounds)."
    for _ in range(warmup):
        for fn in fns.values(): fn(); cuda_sync()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            cuda_sync(); t = time.perf_counter(); fn(); cuda_sync(); times[k].append(time.perf_counter() - t)
    return times


def summary(seconds: list[float]) -> dict:
    return {'median_s': round(statistics.median(seconds), 4), 'min_s': round(min(seconds), 4), 'runs': len(seconds)}


def tiny_store(work: Path):
    "The tiny synthetic study and its patch store under `work` (made once; `bench/predict_slide.py` uses the same folders)."
    from hdexpr.store.prepare import prepare
    from hdexpr.synth.study import make_study
    return prepare(make_study(work / 'study_tiny', size='tiny'), work / 'store_tiny', progress=False)


# ---------------------------------------------------------------- embedding
def bench_embedding(a, work: Path) -> dict:
    from hdexpr.model.encoders import TokenGridEncoder, build_backbone, get_encoder_spec, load_encoder
    reps = 3 if a.quick else 7
    out = {'cpu_default': {}, 'virchow2': {}}
    images = torch.rand(16, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    encoders = {p: load_encoder('efficientnet-lite0', precision=p) for p in ('fp32', 'bf16')}
    times = interleaved({p: (lambda e=e: e(images)) for p, e in encoders.items()}, reps=reps)
    cpu = {p: {**summary(t), 'images_per_s': round(16 / statistics.median(t), 1)} for p, t in times.items()}
    flags = Path('/proc/cpuinfo').read_text() if Path('/proc/cpuinfo').exists() else ''
    out['cpu_default'] = {'encoder': 'efficientnet-lite0', 'device': 'cpu', 'batch': 16, **cpu,
                          'ratio_bf16_over_fp32_throughput': round(cpu['bf16']['images_per_s'] / cpu['fp32']['images_per_s'], 2),
                          'cpu_has_amx_bf16': 'amx_bf16' in flags, 'cpu_has_avx512_bf16': 'avx512_bf16' in flags}
    if not torch.cuda.is_available():
        out['virchow2'] = {'status': 'skipped', 'reason': 'no CUDA device here (torch.cuda.is_available() is False): Virchow2 '
                           '(ViT-H/14, 632 M parameters) at batch 64 is a GPU measurement; run this suite on a GPU machine'}
        return out
    spec = get_encoder_spec('virchow2')
    enc = TokenGridEncoder(build_backbone(spec), spec).cuda()        # the architecture; no (gated) weights needed
    batch = torch.rand(64, 3, 224, 224, device='cuda')
    res = {}
    for p in ('fp32', 'bf16'):
        enc.precision = p
        t = interleaved({p: lambda: enc(batch)}, reps=5, warmup=2)[p]
        res[p] = {**summary(t), 'images_per_s': round(64 / statistics.median(t), 1)}
    enc.precision = 'bf16'
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof: enc(batch[:8]); cuda_sync()
    kernels = sorted({e.key for e in prof.key_averages() if 'attention' in e.key.lower()})
    out['virchow2'] = {'device': torch.cuda.get_device_name(), 'batch': 64, 'weights': 'random (architecture only)', **res,
                       'ratio_bf16_over_fp32_throughput': round(res['bf16']['images_per_s'] / res['fp32']['images_per_s'], 2),
                       'attention_ops_bf16': kernels, 'peak_gpu_mem_gib': round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)}
    return out


# ---------------------------------------------------------------- cache vs re-encode
def bench_cache(a, work: Path) -> dict:
    "The cached vs re-encoded step with the CPU default, then the same comparison for Virchow2's architecture on the CPU."
    from embed_cache import bench_embed_cache
    from hdexpr.model.encoders import TokenGridEncoder, build_backbone, get_encoder_spec
    out = {'study': 'tiny', 'device': 'cpu', **bench_embed_cache(tiny_store(work), reps=3 if a.quick else 7)}
    spec = get_encoder_spec('virchow2')
    enc = TokenGridEncoder(build_backbone(spec), spec)                # the architecture; its (gated) weights are not needed
    images = torch.rand(out['train_batch'], 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): t = interleaved({'virchow2': lambda: enc(images)}, reps=1 if a.quick else 2)['virchow2']
    step = out['step_cached_s']
    out['virchow2_cpu'] = {'encode_batch_s': round(statistics.median(t), 3), 'weights': 'random (architecture only)',
                           'ratio_reencode_over_cached': round((step + statistics.median(t)) / step, 1)}
    return out


# ---------------------------------------------------------------- decoder
def bench_decoder(a, work: Path) -> dict:
    from hdexpr.model.encoders import maybe_autocast
    from hdexpr.model.decoder import DecoderConfig, Hist2STDecoder, compile_decoder
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    reps = 3 if a.quick else 7
    variants = {'fp32': dict(dtype=None, cl=False), 'bf16': dict(dtype=torch.bfloat16, cl=False),
                'fp32_channels_last': dict(dtype=None, cl=True)}
    if device.type == 'cuda': variants['bf16_channels_last'] = dict(dtype=torch.bfloat16, cl=True)
    if a.compile: variants['compiled' if device.type == 'cpu' else 'bf16_channels_last_compiled'] = dict(
        dtype=None if device.type == 'cpu' else torch.bfloat16, cl=device.type == 'cuda', compile=True)
    out = {'device': str(device) if device.type == 'cpu' else torch.cuda.get_device_name(), 'batch': 8,
           'graph': '2 x 4 block of neighbouring patches', 'threads': torch.get_num_threads(), 'by_token_dim': {}}
    slide = torch.zeros(8, dtype=torch.long, device=device)
    rc = torch.stack([torch.arange(8) // 4, torch.arange(8) % 4], 1).to(device)
    for in_dim, name in ((112, 'efficientnet-lite0 tokens (C=112)'), (1280, 'Virchow2 tokens (C=1280)')):
        tok = torch.randn(8, in_dim, 16, 16, device=device)
        fns, compile_s = {}, None
        for v, o in variants.items():
            torch.manual_seed(0)
            m = Hist2STDecoder(DecoderConfig(in_dim=in_dim, n_genes=50)).to(device).train()
            x = tok
            if o['cl']: m.to(memory_format=torch.channels_last); x = tok.contiguous(memory_format=torch.channels_last)
            if o.get('compile'):
                compile_decoder(m); t = time.perf_counter()
                with maybe_autocast(device, o['dtype']): m(x, slide=slide, grid_rc=rc).float().square().mean().backward()
                cuda_sync(); compile_s = round(time.perf_counter() - t, 1)
            def step(m=m, x=x, dtype=o['dtype']):
                m.zero_grad(set_to_none=True)
                with maybe_autocast(device, dtype): out_ = m(x, slide=slide, grid_rc=rc)
                out_.float().square().mean().backward()
            fns[v] = step
        times = interleaved(fns, reps=reps)
        row = {v: summary(t) for v, t in times.items()}
        base = row['fp32']['median_s']
        for v in row: row[v]['speedup_vs_fp32'] = round(base / row[v]['median_s'], 2)
        if compile_s is not None: row['compile_first_call_s'] = compile_s
        out['by_token_dim'][name] = row
    if not a.compile: out['note'] = 'torch.compile not measured (--quick; --compile adds it)'
    return out


# ---------------------------------------------------------------- prepare
def bench_prepare_section(a, work: Path) -> dict:
    from prepare_full import bench_prepare
    if a.quick:
        tiny_store(work)
        r = bench_prepare(work / 'study_tiny', size='tiny')
        r['note'] = ('tiny study (3 × 384² bins, 300 genes) for --quick: at this size the interpreter and its imports are '
                     'much of each figure; run without --quick for the full size (3250² bins, 18,000 genes), where the '
                     'naive reader holds whole matrices')
        return r
    study = Path(a.prepare_study) if a.prepare_study else work / 'study_full'
    return bench_prepare(study, size='full')


# ---------------------------------------------------------------- predict
def bench_predict_section(a, work: Path) -> dict:
    if importlib.util.find_spec('hdexpr.predict.slide') is None or not (BENCH / 'predict_slide.py').exists():
        return {'status': 'not available', 'reason': 'hdexpr.predict.slide (nbs/73_predict.ipynb) or bench/predict_slide.py is not here yet'}
    from predict_slide import bench_predict, bench_run, bench_slide
    size = 'tiny' if a.quick else 'default'
    tiny_store(work)
    t = time.perf_counter()
    run = bench_run(work)
    image, sr = bench_slide(size, work)
    setup_s = time.perf_counter() - t
    kwargs = {'device': 'cuda'} if torch.cuda.is_available() else {}
    r = bench_predict(run, image, spaceranger=sr, threads=a.threads, **kwargs)
    return {'slide': f'synthetic P5, {size} size', 'model': '1-epoch efficientnet-lite0 run on the tiny study',
            'setup_s': round(setup_s, 1), **r}


# ---------------------------------------------------------------- ddp
DDP_RUN = """
import json, time, torch
from hdexpr.train.runs import TrainConfig
from hdexpr.train.loop import fit
t = time.perf_counter()
fit(TrainConfig(**json.loads({cfg!r})), {out!r}, progress=False)
print('FIT_S', time.perf_counter() - t)
"""

def bench_ddp(a, work: Path) -> dict:
    from hdexpr.train.distributed import torchrun_python
    from hdexpr.store.embeddings import build_embedding_cache
    from hdexpr.train.runs import TrainConfig, load_checkpoint
    import pandas as pd
    store = tiny_store(work)
    build_embedding_cache(store, 'tiny-random', progress=False)       # built once, outside the timings
    decoder = dict(hidden_dim=32, n_heads=2, gnn_heads=2, up_dims=(16, 8, 8)) if a.quick else {}
    cfg = TrainConfig(store=str(store.path), encoder='tiny-random', epochs=2 if a.quick else 3, batch_size=4, accumulate=2,
                      lr=3e-3, warmup_epochs=1, device='cpu', decoder=decoder)
    runs = work / 'ddp_runs'
    shutil.rmtree(runs, ignore_errors=True); runs.mkdir()
    result = {}
    for name, nproc, threads in (('1x1', 1, 1), ('1x2', 1, 2), ('2x1', 2, 1)):
        out = runs / name
        code = DDP_RUN.format(cfg=json.dumps(asdict(cfg)), out=str(out))
        t = time.perf_counter()
        if nproc == 1:
            p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=1800,
                               env={**os.environ, 'OMP_NUM_THREADS': str(threads), 'PYTHONWARNINGS': 'ignore'})
        else: p = torchrun_python(code, nproc=nproc, threads=threads, timeout=1800)
        wall = time.perf_counter() - t
        if p.returncode != 0: raise RuntimeError(f'{name} run failed:\n{p.stderr[-3000:]}')
        epochs = pd.read_csv(out / 'log.csv')['seconds'].tolist()
        fit_s = [float(l.split()[1]) for l in p.stdout.splitlines() if l.startswith('FIT_S')]
        result[name] = {'processes': nproc, 'threads_each': threads, 'epoch_s': epochs,
                        'median_epoch_s': round(statistics.median(epochs), 2), 'fit_s': round(max(fit_s), 2),
                        'process_wall_s': round(wall, 1)}
    weights = {n: load_checkpoint(runs / n / 'checkpoints' / 'last.pt')['model'] for n in result}
    logs = {n: pd.read_csv(runs / n / 'log.csv').filter(like='loss') for n in result}
    diff = lambda a, b: {'max_weight_diff': float(max((weights[a][k] - weights[b][k]).abs().max() for k in weights[a])),
                         'max_loss_diff': float((logs[a] - logs[b]).abs().to_numpy().max())}
    epoch = lambda n: result[n]['median_epoch_s']
    load = os.getloadavg()[0]
    note = (f'1 process × 2 threads and 2 processes × 1 thread use the same {min(2, os.cpu_count())} cores: with 2 cores, '
            '2 processes cannot do the work faster than one process whose two threads run unimpeded, so the point is that '
            'they train the same model and what the process group costs; speed-ups come from one GPU per process.')
    if epoch('2x1') < epoch('1x2'):
        note += (f' Here 2 × 1 was faster than 1 × 2 all the same: the machine was busy (load average {load:.1f} on '
                 f'{os.cpu_count()} cores), and the two OpenMP threads of one process wait on each other whenever another '
                 'process holds a core (nbs/21_encoders.ipynb sees the same ~4× drop); single-threaded processes do not.')
    return {'backend': 'gloo (CPU)', 'study': 'tiny', 'encoder': 'tiny-random',
            'decoder': 'small (hidden 32)' if a.quick else 'default (hidden 256)',
            'global_batch': f'{cfg.batch_size} x {cfg.accumulate} = {cfg.batch_size * cfg.accumulate} patches per step',
            'epochs': cfg.epochs, 'runs': result,
            'ratio_epoch_2x1_over_1x2': round(epoch('2x1') / epoch('1x2'), 2),
            'ratio_epoch_2x1_over_1x1': round(epoch('2x1') / epoch('1x1'), 2),
            'same_threads_per_process_2x1_vs_1x1': diff('2x1', '1x1'), 'same_cores_2x1_vs_1x2': diff('2x1', '1x2'),
            'note': note}


# ---------------------------------------------------------------- report
def markdown(report: dict) -> str:
    m = report['meta']
    lines = ["# hdexpr benchmarks", '',
             f"`{m['command']}` — {m['date']}, {m['seconds']:.0f} s in all. {m['machine']}; torch {m['torch']}; "
             f"CUDA: {m['cuda']}; {m['threads']} torch thread(s) for in-process CPU measurements; load average "
             f"{m['load_before']:.1f} before, {m['load_after']:.1f} after (on a shared machine other processes slow every "
             "figure; the ratios are measured side by side, so they suffer less).", '']
    def status(sec):
        if not sec: return '*not run in this report* (`--only`)'
        if sec.get('status') in ('skipped', 'not available', 'failed'):
            return f"**{sec['status']}**: {sec.get('reason') or sec.get('error', '').splitlines()[-1]}"
    def table(header, rows):
        return ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)] + ['| ' + ' | '.join(map(str, r)) + ' |' for r in rows]
    r = report
    # embedding
    lines += ['## Embedding throughput', '']
    e = r.get('embedding', {})
    if status(e): lines += [status(e), '']
    else:
        c = e['cpu_default']
        rows = [[f"{c['encoder']}, CPU, batch {c['batch']}", p, c[p]['images_per_s'], c[p]['median_s']] for p in ('fp32', 'bf16')]
        v = e['virchow2']
        if not status(v): rows += [[f"Virchow2 architecture, {v['device']}, batch {v['batch']}", p, v[p]['images_per_s'], v[p]['median_s']]
                                   for p in ('fp32', 'bf16')]
        lines += table(['encoder', 'precision', 'images/s', 'median s per batch'], rows) + ['']
        lines += [f"bf16 / fp32 throughput: CPU default {c['ratio_bf16_over_fp32_throughput']}× (CPU has AMX-BF16: "
                  f"{c['cpu_has_amx_bf16']}, AVX512-BF16: {c['cpu_has_avx512_bf16']})" +
                  (f"; Virchow2 {v['ratio_bf16_over_fp32_throughput']}× (attention ops: {', '.join(v['attention_ops_bf16'])})"
                   if not status(v) else '') + '.', '']
        if status(v): lines += [f"Virchow2 at batch 64: {status(v)}", '']
    # cache
    lines += ['## Cache vs re-encode (training step)', '']
    c = r.get('cache', {})
    if status(c): lines += [status(c), '']
    else:
        lines += table(['measure (CPU)', 'value'], [
            [f"encoder {c['encoder']} images/s (batch {c['embed_batch']})", f"{c['encoder_images_per_s']:.1f}"],
            ['cache build, patches/s (8 views each)', f"{c['cache_build_patches_per_s']:.2f} ({c['cache_build_s']:.1f} s for {c['n_patches']}, {c['cache_mib']:.1f} MiB)"],
            [f"train step from the cache (batch {c['train_batch']}), s", f"{c['step_cached_s']:.3f}"],
            [f"train step re-encoding (batch {c['train_batch']}), s", f"{c['step_reencode_s']:.3f}"],
            ['**ratio re-encode / cached**', f"**{c['speedup_cached_vs_reencode']:.2f}×**"],
            ['decoder forward + backward alone, s', f"{c['decoder_fwd_bwd_s']:.3f}"],
            ['cache fetch of one batch, s', f"{c['cache_fetch_s']:.4f}"],
            [f"Virchow2 architecture (random weights): encode {c['train_batch']} images on the CPU, s", f"{c['virchow2_cpu']['encode_batch_s']:.2f}"],
            ['**ratio re-encode with Virchow2 / cached** (cached step + that encode, over the cached step)',
             f"**{c['virchow2_cpu']['ratio_reencode_over_cached']:.1f}×**"]]) + [
            '', f"Tiny study, {c['threads']} thread(s), median of {c['reps']}. The CPU default is cheap next to the decoder, so "
            "caching it saves little; caching pays for a foundation encoder, which the Virchow2 rows price.", '']
    # decoder
    lines += ['## Decoder forward + backward, batch of 8', '']
    d = r.get('decoder', {})
    if status(d): lines += [status(d), '']
    else:
        rows = []
        for name, row in d['by_token_dim'].items():
            for v, t in row.items():
                if isinstance(t, dict): rows.append([name, v, t['median_s'], t['min_s'], f"{t['speedup_vs_fp32']}×"])
            if 'compile_first_call_s' in row: rows.append([name, 'compilation (first call)', row['compile_first_call_s'], '', ''])
        lines += table(['tokens', 'variant', 'median s', 'min s', 'speed-up vs fp32'], rows)
        lines += ['', f"{d['device']}, default decoder (hidden 256, 50 genes), {d['graph']}, {d['threads']} thread(s)." +
                  (f" {d['note']}." if d.get('note') else ''), '']
    # prepare
    lines += ['## Preparation: streamed vs naive', '']
    p = r.get('prepare', {})
    if status(p): lines += [status(p), '']
    else:
        rows = [[k, p[k]['wall_s'], p[k]['peak_rss_gib']] for k in ('synth', 'streamed_counts', 'naive_scanpy_counts', 'prepare_two_samples') if k in p]
        lines += [f"Study size: **{p['size']}** (P1 + P5).", ''] + table(['step (own process)', 'wall s', 'peak RSS GiB'], rows)
        lines += ['', f"naive / streamed: wall {p['ratio_naive_over_streamed']['wall']}×, peak RSS {p['ratio_naive_over_streamed']['peak_rss']}×." +
                  (f" {p['note']}." if p.get('note') else ''), '']
    # predict
    lines += ['## Whole-slide prediction', '']
    q = r.get('predict', {})
    if status(q): lines += [status(q), '']
    else:
        lines += table(['measure', 'value'], [['slide', q['slide']], ['model', q['model']],
                                              ['tissue', f"{q['tissue_mm2']} mm² ({q['in_tissue_bins']:,} bins of 2 µm)"],
                                              ['tiles / blocks', f"{q['n_tiles']} / {q['n_blocks']}"],
                                              ['prediction s', q['predict_s']], ['**s per mm² of tissue**', f"**{q['s_per_mm2']}**"],
                                              ['peak RSS GiB', q['peak_rss_gib']], ['threads', q['threads']]]) + ['']
    # ddp
    lines += ['## DDP: 1 vs 2 processes', '']
    g = r.get('ddp', {})
    if status(g): lines += [status(g), '']
    else:
        rows = [[f"{x['processes']} × {x['threads_each']} thread(s)", x['median_epoch_s'], ', '.join(f'{s:.2f}' for s in x['epoch_s']),
                 x['fit_s'], x['process_wall_s']] for x in g['runs'].values()]
        same, cores = g['same_threads_per_process_2x1_vs_1x1'], g['same_cores_2x1_vs_1x2']
        lines += [f"{g['backend']}, {g['study']} study, {g['encoder']} encoder, {g['decoder']} decoder, {g['global_batch']}, "
                  f"{g['epochs']} epochs, the same config in every run.", '']
        lines += table(['processes × threads', 'median s/epoch', 's per epoch', 'fit s', 'wall s (start-up included)'], rows)
        lines += ['', f"Time per epoch, 2 × 1 over 1 × 2 (same cores): **{g['ratio_epoch_2x1_over_1x2']}×**; 2 × 1 over 1 × 1 "
                  f"(same threads per process): {g['ratio_epoch_2x1_over_1x1']}×.", '',
                  f"Same result: 2 × 1 vs 1 × 1 (the same float operations per process), largest weight difference "
                  f"{same['max_weight_diff']:.2e}, largest logged-loss difference {same['max_loss_diff']:.2e}; 2 × 1 vs 1 × 2 "
                  f"(other thread counts, so other float summation orders) {cores['max_weight_diff']:.2e} and {cores['max_loss_diff']:.2e}.",
                  '', g['note'], '']
    # study
    t = r.get('study', {})
    lines += [status(t), ''] if status(t) else [study_cost.markdown({'step': t})]
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='tiny study everywhere, fewer repetitions, no compilation (~5 min on 2 cores)')
    ap.add_argument('--out', default='bench_report', help='report path without suffix: writes OUT.json and OUT.md')
    ap.add_argument('--work', default=None, help='folder for the synthetic studies and runs, kept (default: a temporary one)')
    ap.add_argument('--prepare_study', default=None, help='a full-size study to reuse for the prepare benchmark')
    ap.add_argument('--only', nargs='+', choices=NAMES, default=list(NAMES))
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads for the in-process measurements')
    ap.add_argument('--compile', action=argparse.BooleanOptionalAction, default=None,
                    help='measure the torch.compile decoder too (default: yes, except with --quick)')
    a = ap.parse_args()
    if a.compile is None: a.compile = not a.quick
    torch.set_num_threads(a.threads)
    import warnings; warnings.filterwarnings('ignore')
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix='hdexpr_bench_'))
    work.mkdir(parents=True, exist_ok=True)
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), '') \
        if Path('/proc/cpuinfo').exists() else platform.processor()
    report = {'meta': {'command': ' '.join(['python', 'bench/run_all.py'] + sys.argv[1:]), 'quick': a.quick,
                       'date': datetime.datetime.now().isoformat(timespec='seconds'),
                       'machine': f'{os.cpu_count()} CPU core(s) ({cpu})', 'torch': torch.__version__,
                       'cuda': torch.cuda.get_device_name() if torch.cuda.is_available() else 'not available',
                       'threads': a.threads, 'load_before': os.getloadavg()[0], 'work': str(work)}}
    sections = {'embedding': bench_embedding, 'cache': bench_cache, 'decoder': bench_decoder, 'prepare': bench_prepare_section,
                'predict': bench_predict_section, 'ddp': bench_ddp,
                'study': lambda a, work: study_cost.step_times(work, reps=2 if a.quick else 5)}
    start = time.perf_counter()
    try:
        for name in a.only:
            t = time.perf_counter()
            print(f'[{name}] ...', flush=True)
            try: report[name] = {'status': 'ok', **sections[name](a, work)}
            except Exception as e:
                report[name] = {'status': 'failed', 'error': ''.join(traceback.format_exception(e))[-4000:]}
                print(report[name]['error'], file=sys.stderr)
            report[name]['section_s'] = round(time.perf_counter() - t, 1)
            print(f"[{name}] {report[name]['status']} in {report[name]['section_s']} s", flush=True)
    finally:
        report['meta'].update(seconds=time.perf_counter() - start, load_after=os.getloadavg()[0])
        json_path, md_path = Path(a.out + '.json'), Path(a.out + '.md')
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=1, default=str))
        md_path.write_text(markdown(report))
        print(f'report: {json_path}, {md_path}')
        if not a.work: shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
