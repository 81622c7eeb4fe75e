"""Nothing lost, nothing silently wrong: faults of runs, folders and the command line (issue 22, part B).

Each case ends in one of two ways: one line naming the file, field or flag and the fix, a non-zero exit and nothing
half-written; or the correct result. In-process (`hdexpr.cli.main`) where the process itself is not the point; a process
of its own for locks, `kill -9`, Ctrl-C and what a process prints as it exits.
"""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.register_assert_rewrite('cli_helpers')
from cli_helpers import HDEXPR, TINY, hdexpr, one_line_error, training  # noqa: E402
from hdexpr.cli import run_cli  # noqa: E402

pytest_plugins = ['cli_helpers']   # its fixtures: study, store


@pytest.fixture(scope='module')
def run(store):
    "A tiny run, trained once (two epochs)."
    from hdexpr.cli import main
    out = store.parent / 'run'
    assert main(['train', '--store', str(store), '--out', str(out), *TINY, '--epochs', '2']) == 0
    return out


@pytest.fixture(scope='module')
def prediction(run, study):
    "The run's prediction of P5, one phase of tiles."
    from hdexpr.cli import main
    out = run.parent / 'prediction'
    assert main(['predict', '--model_dir', str(run), '--image', str(study / 'P5' / 'P5_tissue_image.tif'), '--spaceranger',
                 str(study / 'P5'), '--out', str(out), '--stride', '128']) == 0
    return out


def files(*folders) -> dict:
    "Every file under `folders` (or the file itself) with its size and modification time: what a refused command must leave."
    out = {}
    for f in map(Path, folders):
        for p in ([f] if f.is_file() else f.rglob('*') if f.exists() else []):
            if p.is_file(): out[p] = (p.stat().st_size, p.stat().st_mtime_ns)
    return out


def disk(tmp_path, size: str, *, ro_of: Path | None = None) -> Path:
    "A tmpfs of `size` (or `ro_of` bound read-only) under `tmp_path`; skipped where this process may not mount."
    mnt = tmp_path / ('ro' if ro_of else 'disk'); mnt.mkdir()
    cmds = ([['mount', '--bind', str(ro_of), str(mnt)], ['mount', '-o', 'remount,ro,bind', str(mnt)]] if ro_of else
            [['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(mnt)]])
    for c in cmds:
        r = subprocess.run(c, capture_output=True, text=True)
        if r.returncode:
            subprocess.run(['umount', str(mnt)], capture_output=True)
            pytest.skip(f'cannot mount here ({r.stderr.strip()}): this case needs a small or read-only file system')
    return mnt


@pytest.fixture
def mounts():
    "Unmount what a test mounted, however it ends."
    made = []
    yield made
    for m in reversed(made): subprocess.run(['umount', '-l', str(m)], capture_output=True)


def fill(mnt: Path, leave: int) -> Path:
    "Fill the file system of `mnt` up to `leave` bytes free; the filler file, to delete when space is to be freed."
    filler = mnt / 'filler'
    with open(filler, 'wb') as f: f.write(b'\0' * max(0, shutil.disk_usage(mnt).free - leave))
    return filler


def holding(folder: Path) -> subprocess.Popen:
    "Another process that holds `folder` (`folder_lock`) until it is killed."
    code = 'import sys, time\nfrom hdexpr.core.folders import folder_lock\nwith folder_lock(sys.argv[1]):\n    print("held", flush=True); time.sleep(600)'
    proc = subprocess.Popen([sys.executable, '-c', code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == 'held\n'
    return proc


# --- 1, 9: `hdexpr cells --out` never replaces a file hdexpr did not write, nor goes into the prediction's own files

def _mine(tmp, study, pred):
    (tmp / 'mine').mkdir(); (tmp / 'mine' / 'cells.h5ad').write_text('my own cells'); return tmp / 'mine'

def _cells_folder(tmp, study, pred):
    (tmp / 'odd' / 'cells.h5ad').mkdir(parents=True); return tmp / 'odd'

@pytest.mark.parametrize('where,needle', [
    (lambda tmp, study, pred: study / 'P5' / 'P5_tissue_image.tif', 'is a file; --out names the folder cells.h5ad is written to'),
    (lambda tmp, study, pred: pred / 'prediction.h5ad', 'is a file; --out names the folder'),
    (lambda tmp, study, pred: pred / 'prediction.zarr', 'a file of the prediction'),
    (lambda tmp, study, pred: pred / 'prediction.zarr' / '2um', 'a file of the prediction'),
    (_mine, 'mine/cells.h5ad was not written by hdexpr, which will not replace it'),
    (_cells_folder, 'odd/cells.h5ad was not written by hdexpr')],
    ids=['he_image', 'prediction_h5ad', 'prediction_zarr', 'inside_zarr', 'users_cells_h5ad', 'cells_h5ad_folder'])
def test_cells_out_never_replaces_what_hdexpr_did_not_write(tmp_path, study, prediction, where, needle):
    out = where(tmp_path, study, prediction)
    before = files(prediction, study / 'P5', out)
    one_line_error(run_cli('cells', '--prediction_dir', prediction, '--out', out), needle)
    assert files(prediction, study / 'P5', out) == before
    assert 'cells.h5ad' not in {p.name for p in prediction.iterdir()}


def test_cells_out_an_existing_folder_and_again(tmp_path, prediction):
    (tmp_path / 'cells').mkdir()
    for _ in range(2):   # an empty folder, then its own cells.h5ad replaced
        r = run_cli('cells', '--prediction_dir', prediction, '--out', tmp_path / 'cells')
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / 'cells').iterdir()) == ['cells.h5ad']


# --- 2: two processes never write one folder

def test_two_trainings_on_one_folder(store, tmp_path):
    first = training(store, tmp_path / 'run')
    try:
        second = run_cli('train', '--store', store, '--out', tmp_path / 'run', *TINY, '--epochs', '50')   # the same command
        one_line_error(second, f"{tmp_path / 'run'} is being written by another process (pid {first.pid} on", 'wait for it to end')
        assert first.poll() is None   # the first goes on, undisturbed
    finally:
        first.kill(); first.communicate()
    r = run_cli('train', '--store', store, '--out', tmp_path / 'run', *TINY, '--epochs', '1')   # its lock died with it
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize('command', [
    lambda study, store, run, pred: (store, ['prepare', '--data_dir', study, '--out', store, '--n_genes', '10']),
    lambda study, store, run, pred: (run, ['train', '--store', store, '--out', run, *TINY, '--epochs', '2']),
    lambda study, store, run, pred: (pred, ['predict', '--model_dir', run, '--image', study / 'P5' / 'P5_tissue_image.tif',
                                            '--spaceranger', study / 'P5', '--out', pred, '--stride', '128']),
    lambda study, store, run, pred: (pred, ['cells', '--prediction_dir', pred])],
    ids=['prepare', 'train', 'predict', 'cells'])
def test_a_folder_another_process_writes_is_refused(study, store, run, prediction, command):
    folder, argv = command(study, store, run, prediction)
    other, before = holding(folder), files(folder)
    try: one_line_error(run_cli(*argv), f'{folder} is being written by another process (pid {other.pid} on')
    finally: other.kill(); other.wait()
    assert files(folder) == before


# --- 3, 4, 7: settings that cannot train are refused by flag, before anything is written

@pytest.mark.parametrize('flags,needle', [
    (['--grad_clip', '-1'], '--grad_clip must be a gradient norm > 0 (inf: no clipping); got -1.0'),
    (['--grad_clip', '0'], '--grad_clip must be a gradient norm > 0 (inf: no clipping); got 0.0'),
    (['--seed', '-1'], '--seed must be a whole number in [0, 2³²); got -1'),
    (['--warmup_epochs', 'nan'], '--warmup_epochs must be a number of epochs ≥ 0 (0: no warm-up); got nan'),
    (['--decoder', '{"hidden_dim": "abc"}'], "--decoder hidden_dim must be a whole number ≥ 1, got 'abc'"),
    (['--decoder', '{"n_layers": 0}'], '--decoder n_layers must be a whole number ≥ 1, got 0'),
    (['--decoder', '{"hidden": 8}'], '--decoder must be a dict of decoder settings among'),
    (['--lr', 'inf'], '--lr must be a number > 0; got inf'),
    (['--weight_decay', '-0.01'], '--weight_decay must be a number ≥ 0'),
    (['--val_fraction', '1'], '--val_fraction must be a fraction in (0, 1); got 1.0')],
    ids=['grad_clip_negative', 'grad_clip_zero', 'seed', 'warmup_nan', 'decoder_string', 'decoder_no_layers', 'decoder_key',
         'lr_inf', 'weight_decay', 'val_fraction'])
def test_training_settings_checked_first(store, tmp_path, flags, needle):
    one_line_error(run_cli('train', '--store', store, '--out', tmp_path / 'run', *TINY, *flags), needle)
    assert not (tmp_path / 'run').exists()


def test_evaluate_batch_size(run):
    before = files(run)
    one_line_error(run_cli('evaluate', '--model_dir', run, '--batch_size', '0'), '--batch_size must be a whole number of patches ≥ 1; got 0')
    assert files(run) == before


# --- 4, 7, 8: a run folder edited by hand, damaged or moved away from its store: the file, the field, the fix

def _json(path: Path, **change):
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))

@pytest.mark.parametrize('damage,needles', [
    (lambda r: _json(r / 'config.json', lr='1e-3'), ["config.json: 'lr' must be a number > 0; got '1e-3'"]),
    (lambda r: _json(r / 'config.json', decoder=None), ["config.json: 'decoder' must be a dict of decoder settings"]),
    (lambda r: _json(r / 'config.json', epochs=2.5), ["config.json: 'epochs' must be a whole number ≥ 1; got 2.5"]),
    (lambda r: (r / 'config.json').write_text('{"lr": 0.001,'), ['config.json is not valid JSON', 'restore it, or train the run again']),
    (lambda r: (r / 'config.json').write_text('[1, 2]'), ['config.json holds list, not a dict']),
    (lambda r: (r / 'stats.json').write_text(json.dumps({'std': [1.0] * 10})),
     ["stats.json must hold 'mean' and 'std', each 10 numbers", "'mean' is not that (it holds std: 10 values)", 'train the run again']),
    (lambda r: (r / 'stats.json').write_text(''), ['stats.json is not valid JSON']),
    (lambda r: _json(r / 'config.json', store=str(r.parent / 'gone')), ["config.json's 'store' points to", 'which is gone; pass --store']),
    (lambda r: (r / 'run.json').write_text('{'), ['run.json is missing or damaged', 'train the run again']),
    (lambda r: shutil.rmtree(r / 'checkpoints'), ['is not a trained run: it lacks checkpoints/best.pt'])],
    ids=['lr_string', 'decoder_null', 'epochs_float', 'config_not_json', 'config_a_list', 'stats_without_mean', 'stats_empty',
         'store_moved', 'run_json_damaged', 'checkpoints_deleted'])
def test_a_damaged_run_folder_names_its_file(run, tmp_path, damage, needles):
    copy = shutil.copytree(run, tmp_path / 'run')
    damage(copy)
    one_line_error(run_cli('evaluate', '--model_dir', copy), *needles)


def test_a_moved_store_is_found_with_store(run, store, tmp_path):
    copy = shutil.copytree(run, tmp_path / 'run')
    _json(copy / 'config.json', store=str(tmp_path / 'gone'))
    r = run_cli('evaluate', '--model_dir', copy, '--store', store)
    assert r.returncode == 0 and 'oracle' in r.stdout, r.stderr


def test_another_store_is_named(run, study, tmp_path):
    assert run_cli('prepare', '--data_dir', study, '--out', tmp_path / 'other', '--n_genes', '6').returncode == 0
    one_line_error(run_cli('evaluate', '--model_dir', run, '--store', tmp_path / 'other'),
                   'with 6 genes (another store, or the same prepared again)', "pass --store with the run's own store")


# --- 5: a full disk while training: the folder named, the run continued once there is space

def test_a_full_disk_while_training(store, run, tmp_path, mounts):
    mnt = disk(tmp_path, '4m'); mounts.append(mnt)
    best, last = ((run / 'checkpoints' / f).stat().st_size for f in ('best.pt', 'last.pt'))
    filler = fill(mnt, best + last + best // 2 + 64 * 1024)   # room for the first epoch's checkpoints, not for the second's
    argv = ['train', '--store', store, '--out', mnt / 'run', *TINY, '--epochs', '2']
    line = one_line_error(run_cli(*argv), 'No space left on device', f"({mnt / 'run' / 'checkpoints'}",
                          'the disk is full', 'run the same command again to continue', code=1)
    assert 'unexpected pos' not in line
    log = pd.read_csv(mnt / 'run' / 'log.csv')
    assert len(log) == 1 and not [p for p in (mnt / 'run').rglob('.*')]   # the first epoch whole, no half-written file
    filler.unlink()
    r = run_cli(*argv)
    assert r.returncode == 0, r.stderr
    again = pd.read_csv(mnt / 'run' / 'log.csv')
    assert list(again.epoch) == [1, 2] and again.iloc[:1].drop(columns='seconds').equals(log.drop(columns='seconds'))


# --- 6: figures of a run trained on spots

@pytest.fixture(scope='module')
def spot_run(tmp_path_factory):
    from hdexpr.cli import main
    root = tmp_path_factory.mktemp('spots')
    assert main(['synth', '--assay', 'visium', '--size', 'tiny', '--out', str(root / 'study')]) == 0
    assert main(['prepare', '--data_dir', str(root / 'study'), '--out', str(root / 'store'), '--n_genes', '6']) == 0
    assert main(['train', '--store', str(root / 'store'), '--out', str(root / 'run'), *TINY]) == 0
    return root / 'run'


def test_a_spot_run_chooses_its_decoder_on_blocks(spot_run):
    choice = json.loads((spot_run / 'decoders.json').read_text())   # the study's recipe on spots: both decoders trained, the better kept
    assert set(choice['validation']) == {'from_scratch', 'from_ridge'} and choice['chosen'] == max(choice['validation'], key=choice['validation'].get)
    config = json.loads((spot_run / 'config.json').read_text())
    assert (config['val_split'], config['decoder']['probe'], config['decoder']['hidden_dim']) == ('blocks', choice['decoders'][choice['chosen']]['probe'], 32)
    r = run_cli('train', '--store', spot_run.parent / 'store', '--out', spot_run, *TINY)   # again: nothing trains, the choice is said
    assert r.returncode == 0, r.stderr
    assert f"decoder chosen on the validation split: {choice['chosen']} (from_scratch " in r.stdout


def test_figures_of_a_spot_run(spot_run, tmp_path):
    gene = (spot_run / 'genes.txt').read_text().split()[0]
    r = run_cli('figures', '--model_dir', spot_run, '--genes', gene, '--out', tmp_path / 'figures')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / 'figures').iterdir()) == sorted([f'mosaic_{gene}.png', f'patch_{gene}.png', 'training_curves.png'])


# --- 10: --sdata into a prediction folder that cannot be written: refused before the cells are made

def test_cells_sdata_into_a_read_only_prediction(prediction, tmp_path, mounts):
    ro = disk(tmp_path, '', ro_of=shutil.copytree(prediction, tmp_path / 'prediction')); mounts.append(ro)
    one_line_error(run_cli('cells', '--prediction_dir', ro, '--out', tmp_path / 'cells', '--sdata'),
                   f'cannot write in {ro} (Read-only file system)', 'leave out --sdata')
    assert not (tmp_path / 'cells').exists()


# --- 11: Ctrl-C, then the same command continues; other settings are refused by name

def test_the_interrupted_command_continues(store, tmp_path):
    argv = ['train', '--store', store, '--out', tmp_path / 'run', *TINY, '--epochs', '4']
    proc = training(store, tmp_path / 'run', '--epochs', '4', until='log.csv')
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), 'interrupted',
                   'run the same command again to continue where it stopped', code=130)
    done = pd.read_csv(tmp_path / 'run' / 'log.csv')
    assert len(done) < 4, 'the run ended before Ctrl-C: the test proves nothing'
    r = run_cli(*argv)
    assert r.returncode == 0 and 'test PCC' in r.stdout, r.stderr
    log = pd.read_csv(tmp_path / 'run' / 'log.csv')
    assert list(log.epoch) == [1, 2, 3, 4] and log.iloc[:len(done)].drop(columns='seconds').equals(done.drop(columns='seconds'))
    one_line_error(run_cli(*argv, '--lr', '1e-3'), 'holds a training run of other inputs or settings (changed: config.lr)')
    one_line_error(run_cli(*argv, '--loss', 'mse'), 'changed: config.loss')
    one_line_error(run_cli(*argv, '--no-resume'), 'already holds a training run; leave out --no-resume')


# --- 12: what kill -9 left aside is cleared by the next run

def test_kill_9_leaves_nothing_for_good(study, tmp_path):
    proc = subprocess.Popen([str(HDEXPR), 'prepare', '--data_dir', str(study), '--out', str(tmp_path / 'store'), '--n_genes', '10'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not list(tmp_path.glob('.store.tmp-*')) and proc.poll() is None: time.sleep(0.02)
    time.sleep(0.5)   # into the writing
    proc.kill(); proc.wait()
    assert [p.name for p in tmp_path.glob('.store.tmp-*')] == [f'.store.tmp-{proc.pid}'], 'killed too late: the test proves nothing'
    r = run_cli('prepare', '--data_dir', study, '--out', tmp_path / 'store', '--n_genes', '10')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['store']   # the temporary and the lock file gone


# --- 13: a full disk while predicting: one line, and no asyncio dumps after it

@pytest.mark.parametrize('room', [lambda maps, h5ad: maps // 5, lambda maps, h5ad: maps + h5ad // 2], ids=['in_the_maps', 'in_the_h5ad'])
def test_a_full_disk_while_predicting(run, study, prediction, tmp_path, mounts, room):
    mnt = disk(tmp_path, '24m'); mounts.append(mnt)
    fill(mnt, room(sum(size for size, _ in files(prediction / 'prediction.zarr').values()), (prediction / 'prediction.h5ad').stat().st_size))
    argv = ['predict', '--model_dir', run, '--image', study / 'P5' / 'P5_tissue_image.tif', '--spaceranger', study / 'P5',
            '--out', mnt / 'pred', '--stride', '128']
    r = hdexpr(*argv)
    one_line_error(r, 'No space left on device', 'the disk is full', code=1)
    assert 'Task was destroyed' not in r.stderr and 'Exception ignored' not in r.stderr, r.stderr
    (mnt / 'filler').unlink()
    r = run_cli(*argv)
    assert r.returncode == 0 and 'bins of 2 µm predicted' in r.stdout, r.stderr


# --- beyond the issue: more folders and flags

def test_a_run_inside_its_store_is_refused(store):
    one_line_error(run_cli('train', '--store', store, '--out', store / 'run', *TINY), 'lies inside the patch store',
                   'choose a folder outside the store')
    assert not (store / 'run').exists()


def test_a_lock_of_a_killed_process_does_not_block(prediction, tmp_path):
    other = holding(tmp_path / 'cells'); other.kill(); other.wait()   # killed while it held the folder: its lock file stays
    assert (tmp_path / '.cells.lock').exists()
    r = run_cli('cells', '--prediction_dir', prediction, '--out', tmp_path / 'cells')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cells']   # the lock file taken over, then removed
