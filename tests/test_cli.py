"""The CLI end to end in real subprocesses: run, info, refuse/overwrite, SIGKILL then --resume."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from conftest import ROOT, run_cli, tiny_sweep_text
from rnnsweep.schema import curve_names

CURVES = curve_names(("accuracy", "reliability"))


def arrays(store, group):
    g = zarr.open_group(str(store / group), mode="r")
    return {name: np.asarray(a[...]) for name, a in g.arrays()}


def test_run_info_xarray_and_refusal(tmp_path, write_sweep):
    sweep = write_sweep(tiny_sweep_text(epochs="6"))
    store = tmp_path / "s.zarr"
    proc = run_cli("run", sweep, "--store", store)
    assert proc.returncode == 0, proc.stderr
    assert "network-epochs/s" in proc.stderr and "net-epoch" in proc.stderr  # progress bar and summary
    info = run_cli("info", store, "--json")
    data = json.loads(info.stdout)
    assert data["status"]["done"] == 8 and data["progress"] == 1.0
    assert data["grid"]["lr"] == [0.4, 0.1]
    assert data["provenance"]["jax_version"] and data["provenance"]["wall_time_s"] > 0
    assert "tiny" in run_cli("info", store).stdout

    xr = pytest.importorskip("xarray")
    ds = xr.open_zarr(store, group="tiny")
    assert ds.loss.dims == ("seed", "lr", "delay_ms", "epoch")
    assert ds.param_W_rec.dims == ("seed", "lr", "delay_ms", "neuron", "neuron_pre")
    assert float(ds.lr[0]) == 0.4 and list(ds.delay_ms.values) == [0.0, 20.0]
    assert np.all(np.isfinite(ds.loss.values)) and ds.attrs["sweep_name"] == "tiny"
    assert "sweep_text" in ds.attrs and ds.attrs["git_commit"]

    before = arrays(store, "tiny")
    again = run_cli("run", sweep, "--store", store)
    assert again.returncode == 2 and "--resume" in again.stderr and "--overwrite" in again.stderr
    for name, value in arrays(store, "tiny").items():
        np.testing.assert_array_equal(value, before[name])
    assert "nothing to do" in run_cli("run", sweep, "--store", store, "--resume").stderr
    assert run_cli("run", sweep, "--store", store, "--overwrite", "--quiet").returncode == 0

    other = write_sweep(tiny_sweep_text(epochs="7"), "other.toml")
    mismatch = run_cli("run", other, "--store", store, "--resume")
    assert mismatch.returncode == 2 and "different sweep" in mismatch.stderr


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, write_sweep):
    text = tiny_sweep_text(n_neurons=16, epochs="150", chunk_epochs=50, n_seeds=2,
                           lrs="[0.5, 0.4, 0.3, 0.2, 0.1, 0.05]", delays="[20.0]", block_size=2)
    sweep = write_sweep(text)
    full, cut = tmp_path / "full.zarr", tmp_path / "cut.zarr"
    assert run_cli("run", sweep, "--store", full, "--quiet").returncode == 0

    proc = subprocess.Popen([sys.executable, "-m", "rnnsweep.cli", "run", str(sweep), "--store", str(cut), "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = None
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        status_file = cut / "tiny" / "status"
        if status_file.exists():
            try:
                done = int(np.sum(np.asarray(zarr.open_group(str(cut / "tiny"), mode="r")["status"][...]) > 0))
            except Exception:  # metadata still being written
                done = 0
            if 0 < done < 12:
                proc.send_signal(signal.SIGKILL)
                killed_at = done
                break
        time.sleep(0.02)
    proc.wait()
    assert killed_at is not None, "the run finished before it could be killed mid-way"
    partial = arrays(cut, "tiny")["status"]
    assert 0 < np.sum(partial > 0) < 12  # part done, the rest pending: no half-marked block

    resumed = run_cli("run", sweep, "--store", cut, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{12 - int(np.sum(partial > 0))} to train" in resumed.stderr
    a, b = arrays(full, "tiny"), arrays(cut, "tiny")
    assert a.keys() == b.keys()
    np.testing.assert_array_equal(a["status"], b["status"])
    np.testing.assert_array_equal(a["epochs_run"], b["epochs_run"])
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-7, equal_nan=True, err_msg=name)
    for curve in CURVES:
        assert np.all(np.isfinite(b[curve]))


def test_sigterm_stops_cleanly_with_the_resume_command(tmp_path, write_sweep):
    # what Slurm sends before the kill: the run stops at the next chunk boundary, keeps its finished
    # blocks and says how to resume (blocks in flight are retrained by --resume)
    sweep = write_sweep(tiny_sweep_text(n_neurons=16, epochs="150", chunk_epochs=50, n_seeds=2,
                                        lrs="[0.5, 0.4, 0.3, 0.2, 0.1, 0.05]", delays="[20.0]", block_size=2))
    store = tmp_path / "term.zarr"
    proc = subprocess.Popen([sys.executable, "-m", "rnnsweep.cli", "run", str(sweep), "--store", str(store), "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        try:
            if np.any(np.asarray(zarr.open_group(str(store / "tiny"), mode="r")["status"][...]) > 0):
                proc.send_signal(signal.SIGTERM)
                break
        except Exception:  # not created yet
            pass
        time.sleep(0.02)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "--resume" in err and "Traceback" not in err
    assert 0 < np.sum(arrays(store, "tiny")["status"] > 0) < 12
