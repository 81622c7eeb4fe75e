"""`torchrun --nproc_per_node 2 hdexpr predict`: two CPU processes (gloo) share a slide's tiles, or a manifest's slides,
and write the folder one process writes, byte for byte.

The tiny synthetic study and a tiny run on the random encoder: what is checked is equality, not quality. The
single process runs in-process with one torch thread, as each torchrun process does (torchrun's default), so that
the two add their floats in the same order.
"""
import filecmp
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch
import zarr

from hdexpr.cli import main
from hdexpr.store.prepare import prepare
from hdexpr.synth.study import make_study
from hdexpr.train.distributed import free_port
from hdexpr.train.loop import fit
from hdexpr.train.runs import TrainConfig

HDEXPR = Path(sys.executable).parent / 'hdexpr'


def torchrun_hdexpr(*args, nproc: int = 2) -> subprocess.CompletedProcess:
    "`hdexpr *args` in `nproc` torchrun processes on this machine, one CPU thread each."
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(nproc), '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), '--no-python', str(HDEXPR), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'})


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "The tiny study, a tiny run on it, and P5 predicted by one process with one thread (the reference)."
    root = tmp_path_factory.mktemp('distributed')
    make_study(root / 'study', size='tiny', seed=0)
    store = prepare(root / 'study' / 'manifest.csv', root / 'store', n_genes=10, progress=False)
    run = fit(TrainConfig(store=str(store.path), encoder='tiny-random', epochs=1, batch_size=4, accumulate=1, lr=3e-3, precision='fp32',
                          decoder=dict(hidden_dim=32, n_heads=2, gnn_heads=2, up_dims=(16, 8, 8), image_branch=False)),
              root / 'run', progress=False)
    p5 = root / 'study' / 'P5'
    slide = ['--model_dir', run, '--image', p5 / 'P5_tissue_image.tif', '--spaceranger', p5, '--block_tiles', '2']
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try: assert main(['predict', *map(str, slide), '--out', str(root / 'one')]) == 0
    finally: torch.set_num_threads(threads)
    return root, slide


def same_folder(a: Path, b: Path, *, same_name: bool = True):
    "The prediction folders `a` and `b` hold the same maps (byte for byte when the slide has the same name) and the same AnnData."
    za, zb = (zarr.open_group(f / 'prediction.zarr', mode='r') for f in (a, b))
    for k in ('2um', '4um', '8um', '16um', 'predicted', 'in_tissue'):
        assert np.abs(za[k][:].astype(np.float64) - zb[k][:].astype(np.float64)).max() == 0, k
    xa, xb = ad.read_h5ad(a / 'prediction.h5ad'), ad.read_h5ad(b / 'prediction.h5ad')
    assert (xa.X == xb.X).all() and (xa.obs_names == xb.obs_names).all()
    if not same_name: return
    cmp = filecmp.dircmp(a / 'prediction.zarr', b / 'prediction.zarr')
    def walk(c):
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        assert not (mismatch or errors or c.left_only or c.right_only), (c.left, mismatch, errors, c.left_only, c.right_only)
        for sub in c.subdirs.values(): walk(sub)
    walk(cmp)


def test_two_processes_share_a_slides_tiles(tiny):
    root, slide = tiny
    r = torchrun_hdexpr('predict', *slide, '--out', root / 'two')
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('bins of 2 µm predicted') == 1, r.stdout            # rank 0 alone reports
    assert 's/mm², 2 processes)' in r.stdout, r.stdout
    same_folder(root / 'one', root / 'two')
    assert sorted(p.name for p in (root / 'two').iterdir()) == ['predict.json', 'prediction.h5ad', 'prediction.zarr']


def test_two_processes_share_a_manifests_slides(tiny):
    root, slide = tiny
    (root / 'slides.csv').write_text('sample_id,patient,path,image\n' +
                                     ''.join(f'{s},P5,study/P5,study/P5/P5_tissue_image.tif\n' for s in ('P5', 'P5_again')))
    r = torchrun_hdexpr('predict', *slide[:2], '--manifest', root / 'slides.csv', *slide[6:], '--out', root / 'many')
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('bins of 2 µm predicted') == 2, r.stdout            # each process reports its slide
    same_folder(root / 'one', root / 'many' / 'P5')
    same_folder(root / 'one', root / 'many' / 'P5_again', same_name=False)
