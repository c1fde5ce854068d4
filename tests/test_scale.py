"""Scale-out on CPU: simulated devices, concurrent parts, a killed part, the submitit local path."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from conftest import ROOT, run_cli, tiny_sweep_text
from rnnsweep.cli import main
from rnnsweep.schedule import partition
from rnnsweep.schedule import units as schedule_units
from rnnsweep.sweep import parse_sweep

# the default neurons and chunks of conftest's tiny sweeps: blocks of 4 cells of 6 and 10 steps are the
# programs of tests/test_cli.py's and tests/test_validation.py's sweeps too (one compile in the session)
TEXT = tiny_sweep_text(epochs="60", n_seeds=2, lrs="[0.5, 0.4, 0.3, 0.2, 0.1, 0.05]", delays="[0.0, 20.0]",
                       block_size=4)
FOUR_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}


def arrays(store):
    g = zarr.open_group(str(store / "tiny"), mode="r")
    return {name: np.asarray(a[...]) for name, a in g.arrays()}


def assert_same_store(a, b, atol=1e-7):
    a, b = arrays(a), arrays(b)
    assert a.keys() == b.keys()
    np.testing.assert_array_equal(a["status"], b["status"])
    assert np.all(a["status"] == 1)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=atol, equal_nan=True, err_msg=name)


def env_with(extra):
    return dict(os.environ, PYTHONUNBUFFERED="1", **extra)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep trained in one process (this one: the parts below run in real subprocesses, and find its
    compiled programs in the session's compilation cache)."""
    folder = tmp_path_factory.mktemp("ref")
    sweep = folder / "sweep.toml"
    sweep.write_text(TEXT)
    store = folder / "one.zarr"
    assert main(["run", str(sweep), "--store", str(store), "--quiet"]) == 0
    return sweep, store


def cli(capsys, *args) -> tuple[int, str, str]:
    """The CLI in process (the same code as the subprocesses'), for the commands whose process is not the point."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow  # 40 s; sharding itself stays guarded by test_sharded_block_program_has_no_collectives
def test_four_simulated_devices_give_the_same_store(reference, tmp_path):
    sweep, one = reference
    four = tmp_path / "four.zarr"
    proc = run_cli("run", sweep, "--store", four, "--quiet", env=env_with(FOUR_DEVICES))
    assert proc.returncode == 0, proc.stderr
    assert "x4" in proc.stderr
    # Sharding changes how XLA batches the matmuls, so values agree to rounding amplified by 60
    # epochs of training (measured: 2.4e-7 at most on a 2-core AMD EPYC), not bit for bit.
    assert_same_store(one, four, atol=1e-6)


def test_sharded_block_program_has_no_collectives():
    script = f"""
import jax, jax.numpy as jnp
from rnnsweep.executor import Executor
from rnnsweep.schedule import cell_hypers
from rnnsweep.sweep import parse_sweep
from rnnsweep.train import Trainer
sweep = parse_sweep({TEXT!r})
assert len(jax.devices()) == 4
tr = Executor(Trainer(sweep.model, sweep.task, sweep.train))
cells = sweep.cells()[:8]
hypers = tr.shard(jax.tree_util.tree_map(jnp.asarray, cell_hypers(sweep, cells)))
states = tr.init_block(hypers)
with tr.numerics():
    compiled = tr._run_chunk.lower(states, hypers, jnp.int32(0), n_steps_max=12, n_epochs=20).compile()
text = compiled.as_text()
for op in ("all-reduce", "all-gather", "collective-permute", "all-to-all", "reduce-scatter"):
    assert op not in text, op
new_states, curves = tr.run_chunk(states, hypers, 0, 12, 20)  # the program compiled above
assert len(new_states.params["W_rec"].sharding.device_set) == 4
print("OK", len(text))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env=env_with(FOUR_DEVICES), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK")


def test_partition_is_disjoint_chunk_aligned_and_balanced():
    sweep = parse_sweep(TEXT)
    units = schedule_units(sweep)
    for n in (1, 2, 3, 5, 12, 20):
        parts = partition(sweep, n)
        keys = [str(u.index) for p in parts for u in p]
        assert len(keys) == len(set(keys)) == len(units)
        if n <= len(units):
            loads = [sum(len(u.cells) * u.n_epochs * u.n_steps for u in p) for p in parts]
            assert max(loads) <= 2 * min(loads)
    assert partition(sweep, 3) == partition(parse_sweep(TEXT), 3)  # deterministic


def test_parts_refuse_without_init(tmp_path, capsys):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(TEXT)
    code, _, err = cli(capsys, "run", sweep, "--store", tmp_path / "x.zarr", "--part", "0/2")
    assert code == 2 and "rnnsweep init" in err
    assert cli(capsys, "run", sweep, "--store", tmp_path / "x.zarr", "--part", "2/2")[0] == 2


def test_two_concurrent_parts_equal_one_process(reference, tmp_path, capsys):
    sweep, one = reference
    store = tmp_path / "parts.zarr"
    assert cli(capsys, "init", store, sweep)[0] == 0
    procs = [subprocess.Popen([sys.executable, "-m", "rnnsweep.cli", "run", str(sweep), "--store", str(store),
                               "--part", f"{i}/2", "--quiet"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert_same_store(one, store)
    code, info, _ = cli(capsys, "info", store)
    assert code == 0 and "part 0/2" in info and "part 1/2" in info and "cells done" in info


def test_slurm_array_variables_select_the_part(reference, tmp_path, capsys, monkeypatch):
    sweep, _ = reference
    store = tmp_path / "slurm.zarr"
    assert cli(capsys, "init", store, sweep)[0] == 0
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")  # read by the command when it runs, in process as in a job
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    code, _, err = cli(capsys, "run", sweep, "--store", store, "--quiet")
    assert code == 0, err
    assert "part 1 of 3" in err
    status = arrays(store)["status"]
    expected = np.zeros_like(status)
    for unit in partition(parse_sweep(TEXT), 3)[1]:
        expected[unit.index] = 1
    np.testing.assert_array_equal(status, expected)


@pytest.mark.slow  # 27 s; kill and resume stay guarded by tests/test_cli.py, parts by the concurrent-parts test
def test_killed_part_is_rerun_alone(reference, tmp_path):
    sweep, one = reference
    store = tmp_path / "killed.zarr"
    assert run_cli("init", store, sweep).returncode == 0
    mine = partition(parse_sweep(TEXT), 2)[1]
    total = sum(len(u.cells) for u in mine)
    assert run_cli("run", sweep, "--store", store, "--part", "0/2", "--quiet").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "rnnsweep.cli", "run", str(sweep), "--store", str(store),
                             "--part", "1/2", "--quiet", "--block-size", "2"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = False
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        try:
            status = np.asarray(zarr.open_group(str(store / "tiny"), mode="r")["status"][...])
            done = sum(int(np.sum(status[u.index] > 0)) for u in mine)
        except Exception:
            done = 0
        if 0 < done < total:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait()
    assert killed, "part 1 finished before it could be killed"
    rerun = run_cli("run", sweep, "--store", store, "--part", "1/2", "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert_same_store(one, store)


def test_submitit_local_executor_end_to_end(reference, tmp_path):
    pytest.importorskip("submitit")
    sweep, one = reference
    store = tmp_path / "submitit.zarr"
    proc = run_cli("submit", sweep, "--parts", "2", "--store", store, "--logs", tmp_path / "logs", "--local", "--wait")
    assert proc.returncode == 0, proc.stderr
    assert "submitted 2 parts" in proc.stderr
    assert_same_store(one, store)
