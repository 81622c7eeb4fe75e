"""What the embedding cache buys: a training step reading cached tokens vs re-encoding the images.

Measures, in one run, side by side (CPU, one thread unless --threads):

1. embedding throughput of the encoder (default 'efficientnet-lite0', batch 16): images/s of
   one encoder call, and patches/s of `build_embedding_cache` (8 dihedral views per patch);
2. a training step on a batch of 8 (random patches, random dihedral view each, counts moved
   with the same view, Poisson loss, Adam step) of `Hist2STDecoder(DecoderConfig(in_dim=C,
   n_genes=G))`, fed either from the cache or by re-encoding the 8 images each step; and the ratio;
3. the decoder forward + backward alone on a batch of 8.

Usage:  python bench/embed_cache.py [--store STORE] [--size tiny] [--report bench_embed_cache.json]
Without --store, a synthetic study of --size is generated and prepared in a temporary folder.
`bench/run_all.py` calls `bench_embed_cache(store, ...)` directly.
"""
import argparse, json, shutil, statistics, tempfile, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def timed(fn, *, reps: int, warmup: int = 1) -> list[float]:
    "Wall seconds of `reps` calls of `fn` after `warmup` untimed ones."
    for _ in range(warmup): fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); out.append(time.perf_counter() - t)
    return out


def bench_embed_cache(store, *, encoder: str = 'efficientnet-lite0', batch_size: int = 16, train_batch: int = 8,
                      reps: int = 7) -> dict:
    "Embedding throughput, cache build, and a training step from the cache vs re-encoding, on `store` (a PatchStore)."
    from hdexpr.store.embeddings import _images_as_float, build_embedding_cache
    from hdexpr.store.patches import N_VIEWS, dihedral
    from hdexpr.model.encoders import load_encoder
    from hdexpr.model.decoder import DecoderConfig, Hist2STDecoder

    n, genes = len(store), len(store.genes)
    enc = load_encoder(encoder)
    C = enc.spec.dim
    cache_dir = Path(tempfile.mkdtemp(prefix='bench_embed_cache_'))   # a fresh build, never the store's own cache
    try:
        # 1. embedding throughput
        b = min(batch_size, n)
        imgs = _images_as_float(store.images[:b])
        enc_s = timed(lambda: enc(imgs), reps=reps)
        images_per_s = b / statistics.median(enc_s)
        t = time.perf_counter()
        cache = build_embedding_cache(store, encoder, cache_dir / 'cache', batch_size=batch_size, progress=False)
        build_s = time.perf_counter() - t
        # 2. training steps
        rng = np.random.default_rng(0)
        dec = Hist2STDecoder(DecoderConfig(in_dim=C, n_genes=genes))
        opt = torch.optim.Adam(dec.parameters(), lr=1e-4)
        B = min(train_batch, n)

        def batch():
            ids = np.sort(rng.choice(n, B, replace=False)); ks = rng.integers(0, N_VIEWS, B)
            counts = torch.from_numpy(store.counts[ids]).float()
            counts = torch.stack([dihedral(c, int(k)) for c, k in zip(counts, ks)])
            return ids, ks, counts

        def step(tokens, counts):
            opt.zero_grad(set_to_none=True)
            loss = F.poisson_nll_loss(dec(tokens), counts, log_input=True, full=False)
            loss.backward(); opt.step()

        def step_cached():
            ids, ks, counts = batch()
            step(cache.get(ids, ks), counts)

        def step_reencode():
            ids, ks, counts = batch()
            images = _images_as_float(store.images[ids])
            views = torch.stack([dihedral(im, int(k)) for im, k in zip(images, ks)])   # square: one encoder call
            tokens = enc(views).clone()   # the encoder returns an inference tensor; autograd needs a normal one
            step(tokens, counts)

        fixed_tokens, fixed_counts = cache.get(np.arange(B), 0), batch()[2]
        def decoder_only():
            opt.zero_grad(set_to_none=True)
            F.poisson_nll_loss(dec(fixed_tokens), fixed_counts, log_input=True, full=False).backward()

        def fetch_only():
            ids, ks, _ = batch(); cache.get(ids, ks)

        dec.train()
        step_cached(); step_reencode()   # warm-up
        cached_s, reencode_s = [], []
        for _ in range(reps):   # interleaved, so load from other processes hits both alike
            cached_s += timed(step_cached, reps=1, warmup=0); reencode_s += timed(step_reencode, reps=1, warmup=0)
        decoder_s = timed(decoder_only, reps=reps)
        fetch_s = timed(fetch_only, reps=reps)
        med = statistics.median
        return {
            'encoder': encoder, 'dim': C, 'n_patches': n, 'n_genes': genes, 'threads': torch.get_num_threads(),
            'torch': torch.__version__, 'embed_batch': b, 'encoder_images_per_s': images_per_s,
            'cache_build_s': build_s, 'cache_build_patches_per_s': n / build_s, 'cache_mib': sum(
                f.stat().st_size for f in Path(cache.path).rglob('*') if f.is_file()) / 2 ** 20,
            'train_batch': B, 'step_cached_s': med(cached_s), 'step_reencode_s': med(reencode_s),
            'speedup_cached_vs_reencode': med(reencode_s) / med(cached_s),
            'decoder_fwd_bwd_s': med(decoder_s), 'cache_fetch_s': med(fetch_s), 'reps': reps,
        }
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--store', help='a prepared PatchStore (default: build a synthetic one)')
    ap.add_argument('--size', default='tiny', help="synthetic study size when no --store ('tiny' or 'default')")
    ap.add_argument('--encoder', default='efficientnet-lite0')
    ap.add_argument('--batch_size', type=int, default=16, help='encoder batch for embedding')
    ap.add_argument('--train_batch', type=int, default=8)
    ap.add_argument('--reps', type=int, default=7)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--report', default=None, help='write the numbers as JSON here')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from hdexpr.store.patches import PatchStore
    from hdexpr.store.prepare import prepare

    tmp = None
    try:
        if args.store is None:
            from hdexpr.synth.study import make_study
            tmp = Path(tempfile.mkdtemp(prefix='bench_embed_'))
            t = time.perf_counter()
            store = prepare(make_study(tmp / 'study', size=args.size), tmp / 'store', progress=False)
            print(f'synthetic study ({args.size}) prepared in {time.perf_counter() - t:.1f} s')
        else: store = PatchStore(args.store)
        print(f'store {store.path}: {len(store)} patches, {len(store.genes)} genes; encoder {args.encoder}; '
              f'{torch.get_num_threads()} thread(s)')
        report = {**bench_embed_cache(store, encoder=args.encoder, batch_size=args.batch_size, train_batch=args.train_batch,
                                      reps=args.reps), 'store': str(store.path) if args.store else f'synthetic {args.size}'}
        b, B, med = report['embed_batch'], report['train_batch'], lambda k: report[k]
        print(f"\n{'':44s}{'median':>10s}")
        print(f"{'encoder, images/s (batch ' + str(b) + ')':44s}{report['encoder_images_per_s']:10.1f}")
        print(f"{'cache build, patches/s (8 views each)':44s}{report['cache_build_patches_per_s']:10.2f}   "
              f"({report['cache_build_s']:.1f} s for {report['n_patches']}, {report['cache_mib']:.1f} MiB)")
        print(f"{'train step, cached tokens (batch ' + str(B) + '), s':44s}{med('step_cached_s'):10.3f}")
        print(f"{'train step, re-encoding (batch ' + str(B) + '), s':44s}{med('step_reencode_s'):10.3f}")
        print(f"{'  ratio re-encode / cached':44s}{report['speedup_cached_vs_reencode']:10.2f}×")
        print(f"{'decoder forward+backward (batch ' + str(B) + '), s':44s}{med('decoder_fwd_bwd_s'):10.3f}")
        print(f"{'cache fetch (batch ' + str(B) + '), s':44s}{med('cache_fetch_s'):10.4f}")
        if args.report:
            Path(args.report).write_text(json.dumps(report, indent=1))
            print(f'report: {args.report}')
    finally:
        if tmp is not None: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
