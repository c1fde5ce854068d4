"""The CLI end to end: run in a real subprocess, then info, refuse/overwrite (in process); a real
subprocess stopped mid-block by SIGKILL or SIGTERM, then --resume (in process)."""

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


# 8 neurons in blocks of 2 cells, 10-step trials in chunks of 10 epochs: the programs of
# tests/test_snapshots.py's sweep (one compile in the session)
KILL_SWEEP = dict(n_neurons=8, epochs="150", chunk_epochs=10, n_seeds=2, lrs="[0.5, 0.4, 0.3, 0.2, 0.1, 0.05]",
                  delays="[20.0]", block_size=2)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The sweep trained without a stop, in this process (the killed runs below are real subprocesses,
    and find its compiled programs in the session's compilation cache)."""
    from rnnsweep.cli import main

    folder = tmp_path_factory.mktemp("full")
    sweep = folder / "kill.toml"
    sweep.write_text(tiny_sweep_text(**KILL_SWEEP).replace("[run]", "[run]\ncheckpoint_minutes = 0.0"))
    assert main(["run", str(sweep), "--store", str(folder / "full.zarr"), "--quiet"]) == 0
    return sweep, arrays(folder / "full.zarr", "tiny")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_run_killed_mid_block_resumes_from_its_checkpoint_bit_for_bit(tmp_path, uninterrupted, sig, capsys):
    from rnnsweep.cli import main

    # blocks of 2 cells, 15 chunks each, a checkpoint at every chunk boundary (checkpoint_minutes = 0):
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

    code = main(["run", str(sweep), "--store", str(cut), "--resume"])  # a new process is not the point: in process
    err = capsys.readouterr().err
    assert code == 0, err
    assert "continued from checkpoints" in err
    assert not list((cut / "tiny" / "_checkpoints").glob("*.npz"))  # deleted once their blocks are stored
    again = arrays(cut, "tiny")
    assert full.keys() == again.keys()
    for name in full:  # the same blocks on the same machine: bit for bit
        np.testing.assert_array_equal(full[name], again[name], err_msg=name)
