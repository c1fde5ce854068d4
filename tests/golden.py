"""Golden outputs of tiny sweeps: the guard that a refactor does not change results by accident.

``python tests/golden.py`` (from the repository root) trains every sweep of :data:`SWEEPS`, analyses
:data:`ANALYSIS_SWEEP`, and writes the results to ``tests/data/golden/``; ``tests/test_golden.py``
recomputes them and compares. Regenerate only for a deliberate change of the numbers, and say why in
the commit.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import zarr

DATA = Path(__file__).resolve().parent / "data" / "golden"

_DCD = """
name = "{name}"
root_seed = 3

[model]
family = "{family}"
n_neurons = 6
{model_extra}

[task]
name = "dcd"
dt_ms = 5.0
cue_ms = 10.0
response_ms = 20.0
post_ms = {post_ms}
trials_per_cue = 3

[train]
epochs = "max(6, 2.4/lr)"
chunk_epochs = 4
{train_extra}

[grid]
seed = 2
lr = [0.4, 0.1]
delay_ms = [0.0, 20.0]

[run]
block_size = 16
max_padding = 100.0   # one block, one compiled program: the suite stays fast
"""

SWEEPS = {
    "leaky_dcd": _DCD.format(name="leaky_dcd", family="leaky_rnn", model_extra="", post_ms=0.0, train_extra=""),
    "leaky_dcd_post": _DCD.format(name="leaky_dcd_post", family="leaky_rnn", model_extra="tau_ms = 20.0",
                                  post_ms=10.0, train_extra=""),
    "lowrank_dcd": _DCD.format(name="lowrank_dcd", family="lowrank_rnn", model_extra="rank = 2", post_ms=0.0,
                               train_extra='optimizer = "adam"\nmomentum = 0.0'),
    "leaky_dcd_float64": _DCD.format(name="leaky_dcd_float64", family="leaky_rnn", model_extra="noise_std = 0.05",
                                     post_ms=0.0, train_extra='dtype = "float64"'),
    "no_memory": """
name = "no_memory"
[model]
n_neurons = 5
readout = "linear"
[task]
name = "no_memory"
cue_ms = 10.0
trials_per_cue = 2
[train]
epochs = "9"
chunk_epochs = 4
stop_loss_above = 3.0
[grid]
seed = 2
lr = [3.0, 0.5, 0.05]
response_ms = [10.0, 25.0]
[run]
block_size = 16
max_padding = 100.0
""",
    "delayed_activation": """
name = "delayed_activation"
root_seed = 1
[model]
n_neurons = 4
[task]
name = "delayed_activation"
response_ms = 15.0
n_trials = 4
[train]
epochs = "7"
chunk_epochs = 3
[grid]
seed = 3
lr = [0.3]
delay_ms = [10.0, 30.0]
[run]
max_padding = 100.0
""",
    "toy_sp": """
name = "toy_sp"
[model]
family = "toy_sp"
[task]
name = "delayed_activation"
dt_ms = 1.0
response_ms = 1.0
n_trials = 2
[train]
momentum = 0.0
weight_decay = 0.0
epochs = "40"
chunk_epochs = 16
dtype = "float64"
[grid]
seed = 1
lr = [1e-8, 1e-9]
delay_ms = [50.0, 80.0]
init_r_ratio = [1.000001, 1.5]
[run]
max_padding = 100.0
""",
    "toy_sp_numeric": """
name = "toy_sp_numeric"
[model]
family = "toy_sp"
loss = "numeric"
confidence = 5.0
normalize = true
[task]
name = "delayed_activation"
dt_ms = 1.0
response_ms = 1.0
n_trials = 2
[train]
momentum = 0.0
weight_decay = 0.0
epochs = "12"
chunk_epochs = 6
dtype = "float64"
[grid]
seed = 1
lr = [1e-4, 1e-6]
delay_ms = [10.0, 14.0]
[run]
max_padding = 100.0
""",
    "toy_lc": """
name = "toy_lc"
[model]
family = "toy_lc"
[task]
name = "delayed_activation"
dt_ms = 1.0
response_ms = 1.0
n_trials = 2
[train]
momentum = 0.0
weight_decay = 0.0
epochs = "30"
chunk_epochs = 10
dtype = "float64"
[grid]
seed = 1
lr = [1e-3, 1e-5]
delay_ms = [20.0, 40.0]
[run]
max_padding = 100.0
""",
}

# A sweep small enough to train in a test, large enough that some networks learn (SP and LC) and
# some fail, with fits on three learning rates.
ANALYSIS_SWEEP = """
name = "analysis"
root_seed = 0
[model]
n_neurons = 12
[task]
name = "dcd"
cue_ms = 10.0
response_ms = 20.0
trials_per_cue = 6
[train]
epochs = "max(150, 40/lr)"
chunk_epochs = 134
[grid]
seed = 3
lr = [0.6, 0.3, 0.15]
delay_ms = [0.0, 30.0, 60.0, 90.0]
[run]
max_padding = 100.0
"""

ARRAYS = ("status", "epochs_run", "n_epochs", "loss", "accuracy", "reliability", "grad_norm")


def train(text: str, folder: Path) -> tuple[Path, str]:
    """Train a sweep into ``folder/store.zarr``; returns the store path and the sweep name."""
    from rnnsweep.runner import run_sweep
    from rnnsweep.sweep import parse_sweep

    sweep = parse_sweep(text)
    path = folder / "store.zarr"
    run_sweep(sweep, path, progress=False, log=lambda s: None)
    return path, sweep.name


def read_results(path: Path, name: str) -> dict[str, np.ndarray]:
    """Every per-cell result array of a sweep's group (straight from zarr, no rnnsweep code)."""
    group = zarr.open_group(str(path / name), mode="r")
    names = list(ARRAYS) + sorted(n for n, _ in group.arrays() if n.startswith("param_"))
    return {n: np.asarray(group[n][...]) for n in names}


def analysis_results(path: Path) -> dict[str, np.ndarray]:
    """Classes, mechanism index, output RMS and the fitted boundaries of a stored sweep."""
    from rnnsweep.analysis import FitConfig, classify_sweep, fit_study

    result = classify_sweep(path, progress=False)
    out = {"classes": result.classes, "mechanism_index": result.mechanism_index, "output_rms": result.output_rms}
    for suffix, method in (("", "reference"), ("_robust", "robust")):
        fits = fit_study(result, FitConfig(method=method, n_boot=20))
        for key, values in fits.points.items():
            out[f"points_{key}{suffix}"] = np.asarray(values, float)
        for key, law in fits.laws.items():
            out[f"law_{key}{suffix}"] = (np.array([law.beta, law.beta_se, law.r2, *(law.ci95 or (np.nan, np.nan))])
                                         if law else np.full(5, np.nan))
    return out


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in SWEEPS.items():
            folder = Path(tmp) / name
            folder.mkdir()
            np.savez_compressed(DATA / f"{name}.npz", **read_results(*train(text, folder)))
            print(f"wrote {DATA / name}.npz", file=sys.stderr)
        folder = Path(tmp) / "analysis"
        folder.mkdir()
        path, name = train(ANALYSIS_SWEEP, folder)
        np.savez_compressed(DATA / f"{name}.npz", **read_results(path, name))
        np.savez_compressed(DATA / "analysis_results.npz", **analysis_results(path))
        print(f"wrote {DATA / 'analysis'}.npz", file=sys.stderr)


if __name__ == "__main__":
    main()
