"""Bad inputs and faults a new user meets, through the console script, on the tiny synthetic study.

Each case asserts what a user needs: a non-zero exit, one line that says what failed and what to do (no
traceback), and nothing left behind that looks complete or blocks the corrected command. In-process (`run_cli`) where
the process itself is not the point; a process of its own for Ctrl-C, `kill -9` and an environment of its own.
"""
import json
import os
import shutil
import signal
import subprocess

import pandas as pd
import pytest
import tifffile

pytest.register_assert_rewrite('cli_helpers')
from cli_helpers import HDEXPR, TINY, copy_study, one_line_error, training  # noqa: E402
from hdexpr.cli import run_cli  # noqa: E402

pytest_plugins = ['cli_helpers']   # its fixtures: study, store


@pytest.mark.parametrize('flags,needle', [(['--n_genes', '0'], '--n_genes must be a whole number'),
                                          (['--n_genes', '-5'], '--n_genes must be a whole number'),
                                          (['--min_tissue', '1.5'], '--min_tissue is the fraction'),
                                          (['--test_patient', 'P9'], "Patient(s) ['P9'] are not in")])
def test_prepare_numbers_and_patients_checked_first(study, tmp_path, flags, needle):
    one_line_error(run_cli('prepare', '--data_dir', study, '--out', tmp_path / 'store', *flags), needle)
    assert not (tmp_path / 'store').exists()


def test_prepare_refuses_to_replace_a_store_of_other_inputs(study, store, tmp_path):
    before = (store / 'provenance.json').read_text()
    one_line_error(run_cli('prepare', '--data_dir', study, '--out', store, '--n_genes', '12'), 'changed: params.n_genes', '--overwrite')
    assert (store / 'provenance.json').read_text() == before
    other = shutil.copytree(store, tmp_path / 'other')
    r = run_cli('prepare', '--data_dir', study, '--out', other, '--n_genes', '12', '--overwrite')
    assert r.returncode == 0, r.stderr
    assert len((other / 'genes.txt').read_text().split()) == 12


def test_prepare_corrupt_counts(study, tmp_path):
    bad = copy_study(study, tmp_path / 'study')
    h5 = next(bad.glob('P1/**/filtered_feature_bc_matrix.h5'))
    h5.write_bytes(h5.read_bytes()[:2000])
    one_line_error(run_cli('prepare', '--data_dir', bad, '--out', tmp_path / 'store'), str(h5), 'truncated or corrupt', 'Space Ranger')
    assert not (tmp_path / 'store').exists()


def test_prepare_truncated_image(study, tmp_path):
    bad = copy_study(study, tmp_path / 'study')
    tif = bad / 'P2' / 'P2_tissue_image.tif'
    tif.write_bytes(tif.read_bytes()[:tif.stat().st_size // 2])
    one_line_error(run_cli('prepare', '--data_dir', bad, '--out', tmp_path / 'store'), 'P2_tissue_image.tif', 'truncated or corrupt')
    assert not (tmp_path / 'store').exists() and not list(tmp_path.glob('.store*'))


def test_prepare_image_of_another_resolution(study, tmp_path):
    bad = copy_study(study, tmp_path / 'study')
    tif = bad / 'P1' / 'P1_tissue_image.tif'
    with tifffile.TiffFile(tif) as f:
        pixels, (xn, xd) = f.pages[0].asarray(), f.pages[0].tags['XResolution'].value
    mpp = 1e4 * xd / xn
    tifffile.imwrite(tif, pixels, photometric='rgb', tile=(256, 256), resolution=(2e4 / mpp, 2e4 / mpp), resolutionunit='CENTIMETER')
    one_line_error(run_cli('prepare', '--data_dir', bad, '--out', tmp_path / 'store'), f'is {mpp / 2:.4f} µm by the resolution tags',
                   f'but {mpp:.4f} µm by Space Ranger')


def test_manifest_pointing_at_a_missing_image(study, tmp_path):
    bad = copy_study(study, tmp_path / 'study')
    m = pd.read_csv(bad / 'manifest.csv')
    m.loc[1, 'image'] = 'P2/P2_image.tiff'
    m.to_csv(bad / 'manifest.csv', index=False)
    one_line_error(run_cli('prepare', '--data_dir', bad, '--out', tmp_path / 'store'), 'row 3 (sample P2)', "fix the 'image' column")


def test_a_visium_spot_folder_is_named(study, tmp_path):
    bad = copy_study(study, tmp_path / 'study')
    shutil.rmtree(bad / 'P5' / 'binned_outputs')
    (bad / 'P5' / 'spatial').mkdir()
    (bad / 'P5' / 'spatial' / 'tissue_positions_list.csv').write_text('AAAC-1,1,0,0,10,10\n')
    one_line_error(run_cli('prepare', '--data_dir', bad, '--out', tmp_path / 'store'), 'a spot output', 'not Visium HD')


def test_train_with_an_unknown_or_gated_encoder_writes_nothing(store, tmp_path):
    run = tmp_path / 'run'
    one_line_error(run_cli('train', '--store', store, '--out', run, *TINY, '--encoder', 'virchow-2'),
                   "no encoder named 'virchow-2'", 'virchow2')
    env_cache = tmp_path / 'empty_hf_cache'; env_cache.mkdir()
    r = subprocess.run([str(HDEXPR), 'train', '--store', str(store), '--out', str(run), *TINY, '--encoder', 'virchow2'],
                       capture_output=True, text=True, env={**os.environ, 'HF_HUB_CACHE': str(env_cache)})
    one_line_error(r, 'virchow2 weights not found', '--encoder_weights')
    assert not run.exists()
    r = run_cli('train', '--store', store, '--out', run, *TINY)   # the corrected command
    assert r.returncode == 0, r.stderr


def test_ctrl_c_during_training_is_one_line(store, tmp_path):
    proc = training(store, tmp_path / 'run')
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), 'interrupted', code=130)
    assert 'run the same command again' in line


def test_a_run_that_never_finished_an_epoch_does_not_block(store, tmp_path):
    run = tmp_path / 'run'
    proc = training(store, run)
    proc.kill(); proc.communicate(timeout=60)   # a crash before the first epoch ended: run.json, config.json, genes.txt left
    assert (run / 'run.json').exists() and not (run / 'checkpoints' / 'last.pt').exists()
    r = run_cli('train', '--store', store, '--out', run, *TINY, '--lr', '0.002')   # other settings: taken over
    assert r.returncode == 0, r.stderr
    assert json.loads((run / 'config.json').read_text())['lr'] == 0.002


def test_a_run_reads_from_any_working_directory(store, tmp_path, monkeypatch):
    (tmp_path / 'a').mkdir(); (tmp_path / 'b').mkdir()
    shutil.copytree(store, tmp_path / 'a' / 'store')
    monkeypatch.chdir(tmp_path / 'a')
    r = run_cli('train', '--store', 'store', '--out', 'run', *TINY)
    assert r.returncode == 0, r.stderr
    monkeypatch.chdir(tmp_path / 'b')
    r = run_cli('evaluate', '--model_dir', tmp_path / 'a' / 'run')
    assert r.returncode == 0 and 'oracle' in r.stdout, r.stderr


def test_evaluate_something_that_is_not_a_run(store):
    one_line_error(run_cli('evaluate', '--model_dir', store), 'is not a trained run', 'lacks config.json')


def test_unknown_flag_and_help(store):
    r = run_cli('train', '--store', store, '--learning_rate', '1')
    assert r.returncode == 2 and 'unrecognized arguments: --learning_rate' in r.stderr
    r = run_cli('prepare', '--help')
    assert r.returncode == 0 and '--n_genes N_GENES' in r.stdout and '(default: 50)' in r.stdout
