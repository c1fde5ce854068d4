"""Results do not change by accident: tiny sweeps and one small analysis against golden outputs.

The golden files (tests/data/golden/) were made by ``python tests/golden.py``. The comparison is to
float tolerance by default, because another CPU may round differently; set RNNSWEEP_GOLDEN_EXACT=1
to demand bit-identical arrays (true on the machine that wrote them, for an unchanged computation).
"""

import os

import numpy as np
import pytest

import golden

from rnnsweep.store import StoreError

EXACT = os.environ.get("RNNSWEEP_GOLDEN_EXACT") == "1"


def assert_matches(actual: dict, name: str, rtol=1e-4, atol=1e-5):
    expected = dict(np.load(golden.DATA / f"{name}.npz"))
    assert sorted(actual) == sorted(expected), name
    for key, want in expected.items():
        got = actual[key]
        assert got.shape == want.shape and got.dtype == want.dtype, f"{name}:{key}"
        if EXACT or got.dtype.kind in "iub":
            np.testing.assert_array_equal(got, want, err_msg=f"{name}:{key}")
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"{name}:{key}")


# float64 training is also guarded by the toy sweeps (float64) and the finite-difference test
SLOW = {"leaky_dcd_float64"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(golden.SWEEPS)])
def test_tiny_sweeps_train_to_the_golden_results(name, tmp_path):
    path, sweep_name = golden.train(golden.SWEEPS[name], tmp_path)
    assert_matches(golden.read_results(path, sweep_name), name)


@pytest.fixture(scope="module")
def analysis_store(tmp_path_factory):
    return golden.train(golden.ANALYSIS_SWEEP, tmp_path_factory.mktemp("golden_analysis"))


def test_analysis_sweep_trains_to_the_golden_results(analysis_store):
    path, name = analysis_store
    assert_matches(golden.read_results(path, name), name)


def test_analysis_gives_the_golden_classes_index_and_fits(analysis_store):
    path, _ = analysis_store
    assert_matches(golden.analysis_results(path), "analysis_results", rtol=1e-3, atol=1e-3)


def test_a_store_of_rnnsweep_0_1_0_stays_analysable(tmp_path):
    # Written by rnnsweep 0.1.0 (no model/task settings or step counts in the store, one task class
    # with every duration): read through the store's upgrade path, it gives the classes it gave then.
    import zipfile

    from rnnsweep.analysis import classify_sweep
    from rnnsweep.runner import run_sweep
    from rnnsweep.sweep import parse_sweep

    zipfile.ZipFile(golden.DATA.parent / "v1_store" / "v1.zip").extractall(tmp_path / "v1.zarr")
    expected = np.load(golden.DATA.parent / "v1_store" / "v1_classes.npz")
    for name in ("leaky_dcd", "no_memory", "delayed_activation"):
        result = classify_sweep(tmp_path / "v1.zarr", name, progress=False)
        np.testing.assert_array_equal(result.classes, expected[f"{name}_classes"], err_msg=name)
        np.testing.assert_allclose(result.mechanism_index, expected[f"{name}_mechanism_index"], rtol=1e-5,
                                   atol=1e-6, equal_nan=True, err_msg=name)
        # and --resume recognises it as the same sweep (the 0.1.0 task settings are upgraded first)
        text = golden.SWEEPS[name]
        # 0.1.0 trained with autodiff's gradient and threefry noise, today's defaults are others: the
        # refusal says what to set, and with it the store resumes
        with pytest.raises(StoreError, match="set model.noise_rng = 'threefry', model.recurrent_grad = 'autodiff'"):
            run_sweep(parse_sweep(text), tmp_path / "v1.zarr", resume=True, progress=False, log=lambda s: None)
        text = text.replace("[model]", '[model]\nnoise_rng = "threefry"\nrecurrent_grad = "autodiff"')
        if name == "no_memory":  # 0.1.0 scored the response window; today's default is the reference's
            with pytest.raises(StoreError, match="differs in: task.score_window"):
                run_sweep(parse_sweep(text), tmp_path / "v1.zarr", resume=True, progress=False, log=lambda s: None)
            text = text.replace('cue_ms = 10.0', 'cue_ms = 10.0\nscore_window = "response"')
        report = run_sweep(parse_sweep(text), tmp_path / "v1.zarr", resume=True, progress=False, log=lambda s: None)
        assert report.cells_trained == 0
