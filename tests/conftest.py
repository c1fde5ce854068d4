"""Shared helpers: tiny sweep files (few neurons, few trials, few epochs) and a CLI runner.

The suite compiles the same small programs in many tests and subprocesses; JAX's persistent
compilation cache, in a folder of this test session only, compiles each of them once. (Cached
programs are the compiled code itself, so results are the same with and without the cache.)
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="rnnsweep-tests-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache  # inherited by every CLI subprocess
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

TINY_SWEEP = """
name = "{name}"
root_seed = 0

[model]
family = "leaky_rnn"
n_neurons = {n_neurons}

[task]
name = "dcd"
dt_ms = 5.0
cue_ms = 10.0
response_ms = 20.0
trials_per_cue = 3

[train]
epochs = "{epochs}"
chunk_epochs = {chunk_epochs}

[grid]
seed = {n_seeds}
lr = {lrs}
delay_ms = {delays}

[run]
block_size = {block_size}
max_padding = {max_padding}
"""


def tiny_sweep_text(name="tiny", n_neurons=6, epochs="max(4, 0.8/lr)", chunk_epochs=3, n_seeds=2,
                    lrs="[0.4, 0.1]", delays="[0.0, 20.0]", block_size=4, max_padding=100.0, extra="") -> str:
    """A small sweep. ``max_padding`` is large by default so that its blocks share one shape: the
    suite's time goes into compiling block programs, and each shape is one more program."""
    return TINY_SWEEP.format(name=name, n_neurons=n_neurons, epochs=epochs, chunk_epochs=chunk_epochs,
                             n_seeds=n_seeds, lrs=lrs, delays=delays, block_size=block_size,
                             max_padding=max_padding) + extra


@pytest.fixture
def write_sweep(tmp_path):
    def write(text: str, name: str = "sweep.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


@pytest.fixture
def own_analyses(monkeypatch):
    """Only rnnsweep's own analyses registered, as in a fresh process: ``analyze`` in process runs every
    registered analysis that applies, and tests/test_plugins.py registers one in each process that imports it."""
    from rnnsweep.analysis.base import REGISTRY

    own = {name: cls for name, cls in REGISTRY.all().items() if cls.__module__.startswith("rnnsweep.")}
    monkeypatch.setattr(REGISTRY, "_items", own)


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m rnnsweep.cli ARGS`` in a real subprocess."""
    env = kwargs.pop("env", None) or dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "rnnsweep.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=kwargs.pop("cwd", ROOT), **kwargs)


def stop_mid_block(sweep: Path, store: Path, n_cells: int, sig: int, sweep_name: str = "tiny",
                   timeout: float = 240) -> tuple[int, str]:
    """Run ``rnnsweep run SWEEP --store STORE`` in a real subprocess and send it ``sig`` once some but
    not all of its ``n_cells`` cells are stored and a block in flight has a checkpoint. Returns its exit
    code and stderr; fails the test when the run finished before it could be stopped."""
    import time

    import numpy as np
    import zarr

    proc = subprocess.Popen([sys.executable, "-m", "rnnsweep.cli", "run", str(sweep), "--store", str(store), "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, sent = time.time() + timeout, False
    while time.time() < deadline and proc.poll() is None:
        try:
            done = int(np.sum(np.asarray(zarr.open_group(str(store / sweep_name), mode="r")["status"][...]) > 0))
        except Exception:  # not created yet
            done = 0
        if 0 < done < n_cells and list((store / sweep_name / "_checkpoints").glob("*.npz")):
            proc.send_signal(sig)
            sent = True
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=timeout)
    assert sent, "the run finished before it could be stopped mid-way"
    return proc.returncode, err
