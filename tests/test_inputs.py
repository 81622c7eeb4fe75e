"""Bad inputs on the input side (readers, the manifest, cell sources), through the console script run in this process.

Each case ends one of two ways: one line naming the file, the field or flag and the fix, a non-zero exit and nothing
written; or the correct result, said so in the output. The cases share the tiny synthetic legacy-ST study, built once: its
Space Ranger samples (JPEG H&E, v1 positions), the HEST copy of them (`hest/`) and the Visium HD study they were summed
from (`hd/`).
"""
import errno
import json
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import tifffile

from cli_helpers import one_line_error
from hdexpr.cli import run_cli

SAMPLES = ('P1', 'P5')   # a training and a test patient: 13 ST spots each
HD_SCALEFACTORS = 'binned_outputs/square_002um/spatial/scalefactors_json.json'


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    from hdexpr.synth.spots import synth
    root = tmp_path_factory.mktemp('inputs')
    synth(root / 'study', assay='st', size='tiny')
    return root / 'study'


def spot_study(study, dst, *, assay=True):
    "P1 and P5 of the ST study copied to `dst` with their manifest (its `assay` column kept or dropped)."
    m = pd.read_csv(study / 'manifest.csv', dtype=str)
    m = m[m.sample_id.isin(SAMPLES)][['sample_id', 'patient', 'path', 'image'] + (['assay'] if assay else [])]
    for s in SAMPLES: shutil.copytree(study / s, dst / s)
    m.to_csv(dst / 'manifest.csv', index=False)
    return dst


def hest_study(study, dst):
    "The HEST copy of P1 and P5 in `dst/hest`, with its manifest."
    shutil.copytree(study / 'hest', dst / 'hest')
    pd.DataFrame(dict(sample_id=SAMPLES, patient=SAMPLES, path='hest', image='', assay='hest')).to_csv(dst / 'manifest.csv', index=False)
    return dst


def hd_study(study, dst):
    "P1 and P5 of the Visium HD study, with their manifest (no assay column: their layout tells)."
    m = pd.read_csv(study / 'hd' / 'manifest.csv', dtype=str)
    for s in SAMPLES: shutil.copytree(study / 'hd' / s, dst / s)
    m[m.sample_id.isin(SAMPLES)].to_csv(dst / 'manifest.csv', index=False)
    return dst


def edit_json(path, **fields):
    path.write_text(json.dumps(json.loads(path.read_text()) | fields))


def edit_h5ad(path, edit):
    a = ad.read_h5ad(path); edit(a); a.write_h5ad(path)


def lognormalise(a):
    X = a.X.toarray()
    a.X = sp.csr_matrix(np.log1p(X / np.maximum(X.sum(1, keepdims=True), 1) * 1e4).astype(np.float32))


def prepare(data, out, *flags):
    return run_cli('prepare', '--data_dir', data, '--out', out, '--train_patients', 'P1', '--n_genes', '5', *flags)


def nothing_written(out):
    assert not out.exists() and not list(out.parent.glob(f'.{out.name}*')), sorted(p.name for p in out.parent.iterdir())


# --- refused: one line naming the file, the field or flag, and the fix; nothing written ------------------------------------

def _st_said_visium(study, d):   # case 1: a stated assay the lattice contradicts
    d = spot_study(study, d); m = pd.read_csv(d / 'manifest.csv'); m.assign(assay='visium').to_csv(d / 'manifest.csv', index=False)
    return d

def _hest_lognormalised(study, d):   # case 2: X log-normalised, no raw counts kept
    d = hest_study(study, d)
    for s in SAMPLES: edit_h5ad(d / 'hest' / 'st' / f'{s}.h5ad', lognormalise)
    return d

def _barcode_twice(study, d):   # case 5
    d = spot_study(study, d); p = d / 'P1' / 'spatial' / 'tissue_positions_list.csv'
    lines = p.read_text().splitlines(); p.write_text('\n'.join([*lines, lines[0]]) + '\n')
    return d

def _hest_nan_centre(study, d):   # case 6
    d = hest_study(study, d)
    def nan(a): a.obsm['spatial'][2] = np.nan
    edit_h5ad(d / 'hest' / 'st' / 'P1.h5ad', nan)
    return d

def _hest_metadata_list(study, d):   # case 8
    d = hest_study(study, d); p = d / 'hest' / 'metadata' / 'P1.json'; p.write_text(f'[{p.read_text()}]')
    return d

def _hest_diameter_with_unit(study, d):   # case 11
    d = hest_study(study, d); edit_json(d / 'hest' / 'metadata' / 'P1.json', spot_diameter='100 um')
    return d

def _two_spots_one_place(study, d):   # case 12
    d = spot_study(study, d); p = d / 'P1' / 'spatial' / 'tissue_positions_list.csv'
    t = pd.read_csv(p, header=None); i, j = t.index[t[1] == 1][:2]; t.loc[j, [4, 5]] = t.loc[i, [4, 5]].to_numpy()
    t.to_csv(p, header=False, index=False)
    return d

def _hd_positions_csv(study, d):   # case 13
    d = hd_study(study, d); b = d / 'P1' / 'binned_outputs' / 'square_002um' / 'spatial'
    pd.read_parquet(b / 'tissue_positions.parquet').to_csv(b / 'tissue_positions.csv', index=False)
    (b / 'tissue_positions.parquet').unlink()
    return d

def _hd_path_not_hd(study, d):   # case 14
    d = spot_study(study, d); (d / 'hd_P1').mkdir()
    m = pd.read_csv(d / 'manifest.csv'); m.assign(hd_path=['hd_P1', '']).to_csv(d / 'manifest.csv', index=False)
    return d

def _string_diameter_with_unit(study, d):   # case 7 (a string that holds no bare number)
    d = spot_study(study, d); edit_json(d / 'P1' / 'spatial' / 'scalefactors_json.json', spot_diameter_fullres='91.3 px')
    return d

def _hd_path_missing(study, d):   # case 14: a folder that is not there, blamed on hd_path (not on path)
    d = spot_study(study, d); m = pd.read_csv(d / 'manifest.csv'); m.assign(hd_path=['nowhere/P1', '']).to_csv(d / 'manifest.csv', index=False)
    return d

def _hd_pixel_size_with_unit(study, d):   # case 7 in Visium HD's scale factors
    d = hd_study(study, d); edit_json(d / 'P1' / HD_SCALEFACTORS, microns_per_pixel='0.27 um')
    return d

REFUSED = {   # case: (the study's maker, extra flags, what the one line names)
    '1 st said visium': (_st_said_visium, [], ['tissue_positions_list.csv: the spots lie on a square lattice', "st's (200 µm pitch)",
                                               "'assay' column, or --assay) says visium", 'write st there']),
    '1 st told --assay visium': (lambda s, d: spot_study(s, d, assay=False), ['--assay', 'visium'], ['lie on a square lattice', 'says visium']),
    '2 hest log-normalised X': (_hest_lognormalised, [], ['P1.h5ad: X holds values that are no counts', 'normalised or log-transformed',
                                                          "store the counts in layers['counts']"]),
    '4 --genes twice': (spot_study, ['--genes', 'PIGR', 'CD74', 'MT-CO2', 'PIGR'], ["--genes names ['PIGR'] more than once", 'name each gene once']),
    '5 barcode row twice': (_barcode_twice, [], ['P1/spatial/tissue_positions_list.csv lists 1 barcode(s) more than once', 'on lines 1, 17',
                                                 'drop the repeated rows']),
    '6 hest NaN centre': (_hest_nan_centre, [], ["P1.h5ad: obsm['spatial'] gives 1 spot(s) no centre (NaN or infinite)", 'drop those spots']),
    '7 diameter "91.3 px"': (_string_diameter_with_unit, [], ["scalefactors_json.json: spot_diameter_fullres is '91.3 px', expected a number of pixels",
                                                              'spot_diameter_fullres: 91.3']),
    '8 hest metadata a list': (_hest_metadata_list, [], ['P1.json holds a JSON list, expected an object of HEST metadata', 'write the object alone']),
    '11 hest diameter "100 um"': (_hest_diameter_with_unit, [], ["P1.json: spot_diameter is '100 um', expected a number of µm",
                                                                 'write it as a bare JSON number (spot_diameter: 100)']),
    '12 two spots at one place': (_two_spots_one_place, [], ["tissue_positions_list.csv: 2 spots lie closer than a spot's diameter", '0.0 px apart',
                                                             'fix or drop the repeated rows']),
    '13 hd positions as csv': (_hd_positions_csv, [], ['holds tissue_positions.csv but no tissue_positions.parquet', 'to_parquet(']),
    '14 hd_path not visium hd': (_hd_path_not_hd, [], ['manifest.csv, row 2 (sample P1): hd_path', "fix the 'hd_path' column"]),
    '14 hd_path missing': (_hd_path_missing, [], ['manifest.csv, row 2 (sample P1): hd_path', 'nowhere/P1 does not exist', "fix the 'hd_path' column"]),
    '7 hd microns_per_pixel "0.27 um"': (_hd_pixel_size_with_unit, [], ["scalefactors_json.json: microns_per_pixel is '0.27 um', expected a number",
                                                                     'write it as a bare JSON number (microns_per_pixel: 0.27)']),
}


# Bad inputs no issue named (the closing trial of issue 22), where each once printed a bare or misleading line, or none.

def edit_manifest(d, **columns):
    m = pd.read_csv(d / 'manifest.csv', dtype=str); m.assign(**columns).to_csv(d / 'manifest.csv', index=False)
    return d

def _header_only_manifest(study, d):
    d = spot_study(study, d); (d / 'manifest.csv').write_text('sample_id,patient,path,image\n')
    return d

def _no_spot_in_tissue(study, d):
    d = spot_study(study, d); p = d / 'P1' / 'spatial' / 'tissue_positions_list.csv'
    t = pd.read_csv(p, header=None); t[1] = 0; t.to_csv(p, header=False, index=False)   # column 1: in_tissue
    return d

def _positions_empty(study, d):
    d = spot_study(study, d); (d / 'P1' / 'spatial' / 'tissue_positions_list.csv').write_text('')
    return d

def _diameter_negative(study, d):
    d = spot_study(study, d); edit_json(d / 'P1' / 'spatial' / 'scalefactors_json.json', spot_diameter_fullres=-5)
    return d

def _grey_he(study, d):
    from PIL import Image
    d = spot_study(study, d); p = d / 'P1' / 'P1_tissue_image.jpg'; Image.open(p).convert('L').save(p)
    return d

def _hest_no_counts(study, d):
    d = hest_study(study, d)
    def empty(a): a.X = sp.csr_matrix(a.X.shape, dtype=np.float32)
    edit_h5ad(d / 'hest' / 'st' / 'P1.h5ad', empty)
    return d

def _latin1_manifest(study, d):
    d = edit_manifest(spot_study(study, d), patient=['Pé1', 'Pé5']); p = d / 'manifest.csv'; p.write_bytes(p.read_text().encode('latin-1'))
    return d

OWN = {   # case: (the study's maker, extra flags, what the one line names)
    'manifest header only': (_header_only_manifest, [], ['manifest.csv names its columns but lists no sample']),
    'manifest latin-1': (_latin1_manifest, [], ['manifest.csv is not UTF-8 text', "save it as UTF-8 (a spreadsheet's 'CSV UTF-8' format)"]),
    'no spot in tissue': (_no_spot_in_tissue, [], ['tissue_positions_list.csv: none of the 13 spots of the matrix lies under tissue',
                                                   'in_tissue is 0 on every row']),
    'positions empty': (_positions_empty, [], ['tissue_positions_list.csv lists no spot (the file is empty']),
    'diameter negative': (_diameter_negative, [], ['scalefactors_json.json: spot_diameter_fullres is -5, expected a positive number of pixels']),
    'grey H&E': (_grey_he, [], ['P1_tissue_image.jpg is a single-channel image (PIL mode L), expected the colour H&E']),
    'hest no count at all': (_hest_no_counts, [], ['P1.h5ad: its 13 spots hold no count at all']),
    '--genes in lower case': (spot_study, ['--genes', 'pigr', 'CD74'], ['--genes: 1 gene(s) absent from sample P1', 'names are case-sensitive: pigr is PIGR there']),
    '--n_genes over the panel': (spot_study, ['--n_genes', '100000'], ['share only 300 genes, fewer than --n_genes 100000; lower --n_genes (to 300 at most)']),
}


@pytest.mark.parametrize('case', [*REFUSED, *OWN])
def test_prepare_refuses(study, tmp_path, case):
    make, flags, needles = REFUSED.get(case) or OWN[case]
    data = make(study, tmp_path / 'study')
    one_line_error(prepare(data, tmp_path / 'store', *flags), *needles)
    nothing_written(tmp_path / 'store')


# --- read right, and said so ------------------------------------------------------------------------------------------------

def _st_without_assay(study, d): return spot_study(study, d, assay=False)   # case 1

def _hest_counts_layer(study, d):   # case 2: X log-normalised, the counts in layers['counts']
    d = hest_study(study, d)
    def keep_counts(a): a.layers['counts'] = a.X.copy(); lognormalise(a)
    for s in SAMPLES: edit_h5ad(d / 'hest' / 'st' / f'{s}.h5ad', keep_counts)
    return d

def _numbers_as_strings(study, d):   # case 7: hand-edited JSON
    d = spot_study(study, d)
    p = d / 'P1' / 'spatial' / 'scalefactors_json.json'; edit_json(p, spot_diameter_fullres=str(json.loads(p.read_text())['spot_diameter_fullres']))
    return d

def _hest_pixel_size_string(study, d):   # case 7 in HEST's metadata
    d = hest_study(study, d); p = d / 'hest' / 'metadata' / 'P1.json'
    edit_json(p, pixel_size_um_estimated=str(json.loads(p.read_text())['pixel_size_um_estimated']))
    return d

def _by_hand_manifest(study, d):   # own: spaces after the commas, Windows paths, blank lines at the end
    d = spot_study(study, d); m = pd.read_csv(d / 'manifest.csv', dtype=str)
    m = m.assign(path='.\\' + m.path, image=m.image.str.replace('/', '\\'))
    (d / 'manifest.csv').write_text('\n'.join(', '.join(r) for r in [m.columns, *m.to_numpy()]) + '\n\n\n')
    return d

def _v1_with_header(study, d):   # case 10
    d = spot_study(study, d); p = d / 'P1' / 'spatial' / 'tissue_positions_list.csv'
    p.write_text('barcode,in_tissue,array_row,array_col,pxl_row_in_fullres,pxl_col_in_fullres\n' + p.read_text())
    return d

READ_RIGHT = {   # case: (the study's maker, what the output says)
    '1 st without assay': (_st_without_assay, 'manifest.csv gives no assay for P1, P5: read as st from their square spot lattice (200 µm pitch)'),
    '2 hest counts layer': (_hest_counts_layer, "P1.h5ad: X holds normalised values (e.g. "),
    '7 diameter as a string': (_numbers_as_strings, None),
    '7 hest pixel size as a string': (_hest_pixel_size_string, None),
    '10 v1 positions with a header': (_v1_with_header, None),
    'manifest by hand on Windows': (_by_hand_manifest, None),
}


@pytest.fixture(scope='module')
def truth(study):
    "The spots of P1 and P5 as the ST study holds them: what every correct reading of them must give."
    from hdexpr.io.spots import read_spaceranger_spots
    return {s: read_spaceranger_spots(study / s, assay='st') for s in SAMPLES}


@pytest.mark.parametrize('case', READ_RIGHT)
def test_prepare_reads_right(study, truth, tmp_path, case):
    from hdexpr.store.patches import PatchStore
    make, said = READ_RIGHT[case]
    r = prepare(make(study, tmp_path / 'study'), tmp_path / 'store')
    assert r.returncode == 0, r.stderr
    if said: assert said in r.stdout, r.stdout
    store = PatchStore(tmp_path / 'store')
    test_total = {s: int(t.counts[:, [list(t.genes).index(g) for g in store.genes]].sum()) for s, t in truth.items()}
    assert store.params['assay'] == 'st' and len(store) == sum(t.n_spots for t in truth.values()) == 26   # a 100 µm spot a patch
    assert store.patches.groupby('sample_id').umi_total.sum().to_dict() == test_total                     # every count, as counts


def test_hd_pixel_size_as_a_string(study, tmp_path):
    "Case 7 in Visium HD's scale factors: microns_per_pixel written as a string gives the store its number gives."
    from hdexpr.store.patches import PatchStore
    stores = {}
    for name, text in (('number', False), ('string', True)):
        d = hd_study(study, tmp_path / name)
        if text: p = d / 'P1' / HD_SCALEFACTORS; edit_json(p, microns_per_pixel=str(json.loads(p.read_text())['microns_per_pixel']))
        r = prepare(d, tmp_path / f'{name}.store'); assert r.returncode == 0, r.stderr
        stores[name] = PatchStore(tmp_path / f'{name}.store')
    pd.testing.assert_frame_equal(stores['number'].patches, stores['string'].patches)
    assert np.array_equal(stores['number'].images[:], stores['string'].images[:])


# --- cells: GeoJSON polygons and label images -------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def prediction(study):
    "A finished prediction folder of P5 (its true rates): what `hdexpr cells` reads."
    from hdexpr.predict.folder import truth_prediction
    return truth_prediction(study / 'hd' / 'P5', ['PIGR', 'CD74', 'MT-CO2'], study.parent / 'prediction')


def square(x, y, side): return [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]


def geojson(path, shapes, ids=None):
    ids = ids or list(range(1, len(shapes) + 1))
    path.write_text(json.dumps({'type': 'FeatureCollection', 'features': [
        {'type': 'Feature', 'geometry': {'type': 'Polygon', 'coordinates': rings}, 'properties': {'cell_id': i}} for rings, i in zip(shapes, ids)]}))
    return path


PLAIN = [[square(100 + 60 * k, 100, 40)] for k in range(3)]   # three 40-pixel squares, like the odd one on the tissue of P5
ODD = {   # case 3: the fourth cell, its area over a plain square's, and what the output says
    'hole': ([square(100, 180, 40), square(110, 190, 20)], 0.75, None),
    'bow-tie': ([[[100, 180], [140, 220], [140, 180], [100, 220], [100, 180]]], 0.5, "1 self-intersecting polygon(s) repaired with shapely's make_valid (cell_id 4)"),
    'zero area': ([[[100, 180], [120, 180], [140, 180], [100, 180]]], 0.0, '1 polygon(s) of zero area cover no bin and are left out (cell_id 4)'),
}


@pytest.mark.parametrize('case', ODD)
def test_cells_of_odd_polygons(prediction, tmp_path, case):
    rings, area, said = ODD[case]
    r = run_cli('cells', '--prediction_dir', prediction, '--cells', geojson(tmp_path / 'cells.geojson', PLAIN + [rings]), '--out', tmp_path)
    assert r.returncode == 0, r.stderr
    if said: assert said in r.stdout, r.stdout
    cells = ad.read_h5ad(tmp_path / 'cells.h5ad').obs
    plain = cells.iloc[0]
    if area == 0: assert len(cells) == 3 and '1 without a predicted bin left out' in r.stdout, (cells, r.stdout)   # no bin: no cell
    else:
        odd = cells.loc['cellid_000000004-1']
        assert abs(odd.cell_area_um2 / plain.cell_area_um2 - area) < 1e-6
        assert abs(odd.n_bins / plain.n_bins - area) < 0.06, (odd.n_bins, plain.n_bins)   # its bins follow its area: a hole's are not its


@pytest.mark.parametrize('case', ['geojson ids twice', 'label tiff cut short', 'label npy of objects'])
def test_cells_refuses(prediction, tmp_path, case):
    from hdexpr.io.image import HEImage
    if case == 'geojson ids twice':
        cells = geojson(tmp_path / 'classes.geojson', [[square(300 + 45 * k, 300, 40)] for k in range(10)], ids=['tumour', 'stroma'] * 5)
        needles = ['classes.geojson gives its 10 polygons only 2 distinct cell ids (properties.cell_id)', "'tumour' ×5", 'number the cells']
    else:
        shape = HEImage(next((prediction.parent / 'study' / 'hd' / 'P5').glob('*.tif'))).shape
        labels = np.zeros(shape, np.int32); labels[300:340, 300:340] = 1
        if case == 'label tiff cut short':
            tifffile.imwrite(tmp_path / 'full.tif', labels, tile=(128, 128), compression='zlib')
            data = (tmp_path / 'full.tif').read_bytes(); cells = tmp_path / 'labels.tif'; cells.write_bytes(data[:len(data) // 2])
            needles = ['labels.tif is truncated or corrupt: its pixel data runs to byte', 'copy it again']
        else:
            cells = tmp_path / 'labels.npy'; np.save(cells, labels.astype(object), allow_pickle=True)
            needles = ['labels.npy holds Python objects (dtype object), not integer labels', 'labels.astype(np.int32)']
    one_line_error(run_cli('cells', '--prediction_dir', prediction, '--cells', cells, '--out', tmp_path / 'out'), *needles)
    nothing_written(tmp_path / 'out')


# --- Ctrl-C while a store is written ------------------------------------------------------------------------------------------

def test_ctrl_c_in_prepare_is_an_interruption(study, tmp_path, monkeypatch):
    "Case 15: Ctrl-C while zarr's writer thread still writes into the half-built store: the removal races it, and the line says interrupted."
    import hdexpr.core.folders as folders
    import hdexpr.store.spots as spot_store
    def interrupted(path, *a, **k):
        (path / 'patches.zarr' / 'images' / 'c').mkdir(parents=True); (path / 'patches.zarr' / 'images' / 'c' / '0').write_bytes(b'0')
        raise KeyboardInterrupt
    rmtree, calls = shutil.rmtree, []
    def racing_rmtree(p, *a, **k):   # the first removal meets a chunk the writer thread wrote meanwhile
        calls.append(p)
        if len(calls) == 1: raise OSError(errno.ENOTEMPTY, 'Directory not empty', str(p))
        return rmtree(p, *a, **k)
    monkeypatch.setattr(spot_store, '_write_spot_store', interrupted)
    monkeypatch.setattr(folders.shutil, 'rmtree', racing_rmtree)
    line = one_line_error(prepare(spot_study(study, tmp_path / 'study'), tmp_path / 'store'), 'interrupted', code=130)
    assert 'Directory not empty' not in line and len(calls) == 2
    nothing_written(tmp_path / 'store')
