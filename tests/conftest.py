"""Shared helpers: tiny sweep files (few neurons, few trials, few epochs) and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
"""


def tiny_sweep_text(name="tiny", n_neurons=6, epochs="max(4, 0.8/lr)", chunk_epochs=3, n_seeds=2,
                    lrs="[0.4, 0.1]", delays="[0.0, 20.0]", block_size=4, extra="") -> str:
    return TINY_SWEEP.format(name=name, n_neurons=n_neurons, epochs=epochs, chunk_epochs=chunk_epochs,
                             n_seeds=n_seeds, lrs=lrs, delays=delays, block_size=block_size) + extra


@pytest.fixture
def write_sweep(tmp_path):
    def write(text: str, name: str = "sweep.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m rnnsweep.cli ARGS`` in a real subprocess."""
    env = kwargs.pop("env", None) or dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "rnnsweep.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=kwargs.pop("cwd", ROOT), **kwargs)
