"""What a tile of whole-slide prediction costs, step by step: the H&E crops, the encoder, the decoder, the expected counts.

Every tile of every phase whose 128 bins lie inside a square of --region bins at the middle of the slide is predicted
twice, in blocks of --block_tiles² as `sweep` decodes them:

- **per tile** (hdexpr before issue 23): each tile's crops by `crop_patch_image`, the decoder in PyTorch's default
  (contiguous) memory format;
- **shared** (now): the crops pieced together from cells cropped once for all phases (`TileImages`), the decoder in
  channels-last memory format.

It reports milliseconds per tile for each step, the tiles per mm² of tissue the plan has (so the seconds per mm² the
model steps alone would take), and the largest difference between the two ways' expected counts, relative to the
largest value (float rounding, and the rare uint8 crop value the cells' rounding tips).

Usage:  python bench/predict_tiles.py --model_dir RUN --image H&E.tif --spaceranger DIR [--region 768] [--threads 2] [--report F]
"""
from __future__ import annotations

import argparse, copy, json, time
from pathlib import Path

import numpy as np
import torch


def bench_tiles(model_dir, image, spaceranger, *, region: int = 768, stride: int = 64, block_tiles: int = 4, threads: int = 2) -> dict:
    "Milliseconds per tile of each step, both ways, over the tiles inside a `region`-bin square at the slide's middle."
    torch.set_num_threads(threads)
    from hdexpr.predict.grid import grid_from_spaceranger
    from hdexpr.predict.tiles import TileImages, image_sizes, plan_tiles
    from hdexpr.store.patches import crop_patch_image
    from hdexpr.train.runs import read_run
    run = read_run(model_dir)
    encoder, grid = run.encoder(), grid_from_spaceranger(spaceranger, image)
    plan = plan_tiles(grid.tissue, stride=stride, block_tiles=block_tiles)
    (R, C), t = grid.grid_shape, plan.tiles
    r0, c0 = (R - region) // 2 // stride * stride, (C - region) // 2 // stride * stride
    inside = (t.row0 >= r0) & (t.row0 + 128 <= r0 + region) & (t.col0 >= c0) & (t.col0 + 128 <= c0 + region)
    blocks = [ids[inside.to_numpy()[ids]] for ids in plan.blocks]
    blocks = [b for b in blocks if len(b)]
    n, sizes, origins = sum(len(b) for b in blocks), image_sizes(run), t[['row0', 'col0']].to_numpy()
    decoders = {'per tile': run.decoder, 'shared': copy.deepcopy(run.decoder).to(memory_format=torch.channels_last)}
    ms, outs = {}, {}
    for way, decoder in decoders.items():
        crops = (TileImages(grid, origins[np.concatenate(blocks)], stride=stride, sizes=sizes) if way == 'shared' else
                 lambda r, c: [crop_patch_image(grid, r, c, image_px=px) for px in sizes])
        steps, outs[way] = dict(crops=0.0, encoder=0.0, decoder=0.0, expected_counts=0.0), []
        with torch.inference_mode():
            for ids in blocks:
                s = time.perf_counter()
                images = [crops(int(r), int(c)) for r, c in origins[ids]]
                as_float = lambda m: torch.from_numpy(np.stack([i[m] for i in images])).permute(0, 3, 1, 2).float().div_(255)
                x, hires = as_float(0), as_float(1).contiguous(memory_format=torch.channels_last) if len(sizes) > 1 else None
                e = time.perf_counter(); tokens = encoder(x)
                d = time.perf_counter()
                out = decoder(tokens.half().float(), slide=torch.zeros(len(ids), dtype=torch.long),
                              grid_rc=torch.as_tensor(t.iloc[ids][['grid_row', 'grid_col']].to_numpy()), image=hires)
                c = time.perf_counter(); counts = run.expected_counts(out.float()).numpy()
                f = time.perf_counter()
                for k, v in zip(steps, (e - s, d - e, c - d, f - c)): steps[k] += v
                outs[way].append(counts)
        ms[way] = {k: round(1000 * v / n, 1) for k, v in steps.items()} | {'total': round(1000 * sum(steps.values()) / n, 1)}
    a, b = (np.concatenate(outs[w]) for w in decoders)
    tiles_per_mm2 = len(plan.tiles) / (grid.tissue.sum() * 4e-6)
    return {'tiles_measured': n, 'blocks_measured': len(blocks), 'region_bins': region, 'threads': threads, 'ms_per_tile': ms,
            'plan_tiles': len(plan.tiles), 'tissue_mm2': round(float(grid.tissue.sum()) * 4e-6, 3), 'tiles_per_mm2': round(tiles_per_mm2, 1),
            's_per_mm2_these_steps': {w: round(m['total'] / 1000 * tiles_per_mm2, 2) for w, m in ms.items()},
            'max_rel_diff': float(np.abs(a - b).max() / np.abs(a).max()), 'microns_per_pixel': grid.microns_per_pixel}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model_dir', required=True); ap.add_argument('--image', required=True); ap.add_argument('--spaceranger', required=True)
    ap.add_argument('--region', type=int, default=768); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--report')
    a = ap.parse_args()
    r = bench_tiles(a.model_dir, a.image, a.spaceranger, region=a.region, threads=a.threads)
    print(json.dumps(r, indent=1))
    if a.report: Path(a.report).write_text(json.dumps(r, indent=1) + '\n')


if __name__ == '__main__':
    main()
