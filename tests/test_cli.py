"""The CLI end to end in real subprocesses: run, info, refuse/overwrite, SIGKILL then --resume."""

import json
import signal

import numpy as np
import pytest
import zarr

from conftest import run_cli, stop_mid_block, tiny_sweep_text
from rnnsweep.schema import curve_names

CURVES = curve_names(("accuracy", "reliability"))


def arrays(store, group):
    g = zarr.open_group(str(store / group), mode="r")
    return {name: np.asarray(a[...]) for name, a in g.arrays()}


def test_run_info_xarray_and_refusal(tmp_path, write_sweep, capsys):
    from rnnsweep.cli import main

    def cli(*args):  # the same CLI code in process (a real subprocess runs the first command)
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    sweep = write_sweep(tiny_sweep_text(epochs="6"))
    store = tmp_path / "s.zarr"
    proc = run_cli("run", sweep, "--store", store)
    assert proc.returncode == 0, proc.stderr
    assert "network-epochs/s" in proc.stderr and "net-epoch" in proc.stderr  # progress bar and summary
    code, out, _ = cli("info", store, "--json")
    data = json.loads(out)
    assert data["status"]["done"] == 8 and data["progress"] == 1.0
    assert data["grid"]["lr"] == [0.4, 0.1]
    assert data["provenance"]["jax_version"] and data["provenance"]["wall_time_s"] > 0
    assert "tiny" in cli("info", store)[1]

    xr = pytest.importorskip("xarray")
    ds = xr.open_zarr(store, group="tiny")
    assert ds.loss.dims == ("seed", "lr", "delay_ms", "epoch")
    assert ds.param_W_rec.dims == ("seed", "lr", "delay_ms", "neuron", "neuron_pre")
    assert float(ds.lr[0]) == 0.4 and list(ds.delay_ms.values) == [0.0, 20.0]
    assert np.all(np.isfinite(ds.loss.values)) and ds.attrs["sweep_name"] == "tiny"
    assert "sweep_text" in ds.attrs and ds.attrs["git_commit"]

    before = arrays(store, "tiny")
    code, _, err = cli("run", sweep, "--store", store)
    assert code == 2 and "--resume" in err and "--overwrite" in err
    for name, value in arrays(store, "tiny").items():
        np.testing.assert_array_equal(value, before[name])
    assert "nothing to do" in cli("run", sweep, "--store", store, "--resume")[2]
    assert cli("run", sweep, "--store", store, "--overwrite", "--quiet")[0] == 0

    other = write_sweep(tiny_sweep_text(epochs="7"), "other.toml")
    code, _, err = cli("run", other, "--store", store, "--resume")
    assert code == 2 and "different sweep" in err


KILL_SWEEP = dict(n_neurons=16, epochs="150", chunk_epochs=25, n_seeds=2, lrs="[0.5, 0.4, 0.3, 0.2, 0.1, 0.05]",
                  delays="[20.0]", block_size=2)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    sweep = folder / "kill.toml"
    sweep.write_text(tiny_sweep_text(**KILL_SWEEP).replace("[run]", "[run]\ncheckpoint_minutes = 0.0"))
    assert run_cli("run", sweep, "--store", folder / "full.zarr", "--quiet").returncode == 0
    return sweep, arrays(folder / "full.zarr", "tiny")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_run_killed_mid_block_resumes_from_its_checkpoint_bit_for_bit(tmp_path, uninterrupted, sig):
    # blocks of 2 cells, 6 chunks each, a checkpoint at every chunk boundary (checkpoint_minutes = 0):
    # the signal lands after at least one block is finished and while another is checkpointed mid-way
    sweep, full = uninterrupted
    cut = tmp_path / "cut.zarr"
    returncode, err = stop_mid_block(sweep, cut, 12, sig)
    assert returncode in ((-signal.SIGKILL,) if sig == signal.SIGKILL else (128 + signal.SIGTERM,)), err
    if sig == signal.SIGTERM:  # a clean stop: the block in flight saved, the resume command printed
        assert "checkpointed" in err and "--resume" in err and "Traceback" not in err
    partial = arrays(cut, "tiny")["status"]
    assert 0 < np.sum(partial > 0) < 12  # finished blocks saved, the rest pending: no half-marked block
    assert list((cut / "tiny" / "_checkpoints").glob("*.npz"))

    resumed = run_cli("run", sweep, "--store", cut, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "continued from checkpoints" in resumed.stderr
    assert not list((cut / "tiny" / "_checkpoints").glob("*.npz"))  # deleted once their blocks are stored
    again = arrays(cut, "tiny")
    assert full.keys() == again.keys()
    for name in full:  # the same blocks on the same machine: bit for bit
        np.testing.assert_array_equal(full[name], again[name], err_msg=name)
