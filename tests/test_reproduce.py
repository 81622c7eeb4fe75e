"""README's main job, `hdexpr reproduce`, end to end through the console script, in its quick form.

The main run goes through the console script; the rerun and the refusals run in this process (`run_cli`).
`--quick` is the whole chain (synthetic study, patches, the sparsity, training, evaluation and
figures notebooks run by papermill) on the tiny study with the tiny random encoder and one
epoch, here on 10 genes: what it checks is the chain and the results folder's contract, not the science.
"""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hdexpr.cli import run_cli

HDEXPR = Path(sys.executable).parent / 'hdexpr'
QUICK = ['reproduce', '--quick', '--n_genes', '10']   # 10 genes: the chain is what is tested, at a fifth of the scoring
TABLES = ['composition', 'gene_structure', 'loss_by_resolution', 'per_gene', 'sparsity', 'summary', 'timings']


def hdexpr(*args):
    return subprocess.run([str(HDEXPR), *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp('reproduce') / 'results'
    r = hdexpr(*QUICK, '--out', out)
    assert r.returncode == 0, f'hdexpr reproduce --quick failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    return out, r.stdout + r.stderr


def test_results_folder(results):
    out, output = results
    assert sorted(p.name for p in (out / 'tables').iterdir()) == sorted(f'{t}{s}' for t in TABLES for s in ('.csv', '.md'))
    assert sorted(p.name for p in (out / 'notebooks').glob('*.ipynb')) == [
        '35_sparsity.ipynb', '53_recipes_P5.ipynb', '60_evaluate.ipynb', '62_figures.ipynb']
    figures = sorted(p.name for p in (out / 'figures').glob('*.png'))
    assert 'sparsity.png' in figures and 'training_curves.png' in figures
    assert any(f.startswith('mosaic_') for f in figures) and any(f.startswith('patch_') for f in figures)
    assert '## loss_by_resolution' in output and 'Poisson / MSE' in output
    for nb in (out / 'notebooks').glob('*.ipynb'):   # the study's cells only: no demo, no self-test, no nbdev_export
        source = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'])
        assert not any(w in source for w in ('test_eq', 'test_fail', 'nbdev_export', 'mkdtemp')), nb.name
    assert 'Kernel is running over TCP' not in output   # the notebooks' kernels use Unix sockets


def test_run_folders_follow_the_contract(results):
    out, _ = results
    for loss in ('poisson', 'mse'):
        run = out / 'runs' / f'{loss}_P5'
        for name in ('config.json', 'genes.txt', 'log.csv', 'best_metrics.json', 'visualization_metrics.json'):
            assert (run / name).exists(), f'{run} lacks {name}'
        assert (run / 'checkpoints' / 'best.pt').exists()
        best = json.loads((run / 'best_metrics.json').read_text())
        assert sorted(best['resolutions']) == ['16um', '2um', '4um', '8um']
        assert {'pcc', 'pcc_per_patch', 'ssim', 'coverage', 'n_genes_valid'} <= set(best['resolutions']['2um'])
        assert set(best['genes']) == set((run / 'genes.txt').read_text().split())


def test_tables_hold_the_runs_metrics(results):
    out, _ = results
    table = pd.read_csv(out / 'tables' / 'loss_by_resolution.csv')
    assert list(table.model) == ['hdexpr', 'baseline', 'hdexpr, reference settings', 'baseline, reference settings', 'constant',
                                 'oracle', 'depth only', 'Poisson / MSE', 'Poisson / MSE, reference settings']
    runs = {loss: json.loads((out / 'runs' / f'{loss}_P5' / 'best_metrics.json').read_text()) for loss in ('poisson', 'mse')}
    for row, loss in ((0, 'poisson'), (1, 'mse')):
        for res in ('2', '4', '8'):
            assert table.loc[row, f'{res} µm PCC'] == pytest.approx(runs[loss]['resolutions'][f'{res}um']['pcc'], abs=1e-12)
        log = pd.read_csv(out / 'runs' / f'{loss}_P5' / 'log.csv')   # the validation figure that selected the checkpoint
        assert table.loc[row, 'validation 2 µm PCC'] == pytest.approx(log.val_pcc_2um.max(), abs=1e-12)
    assert table.loc[7, '2 µm PCC'] == pytest.approx(table.loc[0, '2 µm PCC'] / table.loc[1, '2 µm PCC'])
    assert table.loc[8, '2 µm PCC'] == pytest.approx(table.loc[2, '2 µm PCC'] / table.loc[3, '2 µm PCC'])
    assert table.loc[0, '2 µm % oracle'] == pytest.approx(100 * table.loc[0, '2 µm PCC'] / table.loc[5, '2 µm PCC'])
    sparsity = pd.read_csv(out / 'tables' / 'sparsity.csv')
    assert list(sparsity.Patient) == ['P1', 'P2', 'P5']


def test_rerun_reuses_what_finished(results):
    out, _ = results
    before = {p: p.stat().st_mtime_ns for p in (out / 'notebooks').glob('*.ipynb')}
    r = run_cli(*QUICK, '--out', out)
    assert r.returncode == 0, r.stderr[-4000:]
    assert {p: p.stat().st_mtime_ns for p in (out / 'notebooks').glob('*.ipynb')} == before


def test_bad_input_is_one_line_and_nothing_runs(tmp_path):
    r = run_cli('reproduce', '--out', tmp_path / 'r', '--data_dir', tmp_path / 'nowhere')
    assert r.returncode == 2 and 'No manifest.csv' in r.stderr, r.stderr
    r = run_cli('reproduce', '--quick', '--out', tmp_path / 'r2', '--lr', '-1')
    assert r.returncode == 2 and '--lr must be a number > 0' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path / 'r2' / 'notebooks').exists()
