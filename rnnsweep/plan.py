"""Projected wall time and peak memory of sweep files, before launch (``rnnsweep plan``).

The cost model: a block costs ``padded cells x padded epochs x steps`` cell-steps, and one
cell-step of the reference network (leaky RNN, N = 100, 128 trials) costs ``1 / (rate(T) * T)``
seconds, ``rate(T)`` being the best measured engine throughput (network-epochs/s) at sequence length
``T``, interpolated in log T between measured lengths. Other models and sizes scale with the model
family's own cost hint (``flops_per_step`` for the task's batch). Throughput comes from a
benchmarks.json of ``benchmarks/run.py`` or ``rnnsweep bench`` (same machine), or from a quick
calibration run here, plus one compile per distinct block program (the median compile time of the
measurements). Peak memory is the memory rule (``rnnsweep.schedule.bytes_per_cell``) times
the largest block.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from . import limits, schedule
from .models.leaky_rnn import LeakyRNN
from .sweep import Sweep

REFERENCE_NETWORK = LeakyRNN(n_neurons=100, n_inputs=2, n_outputs=2)
REFERENCE_TRIALS = 128


# The settings that change the engine's speed; a benchmark row records them, and a sweep is projected
# from the rows measured with its own values.
SPEED_SETTINGS = ("model.recurrent_grad", "model.noise_rng", "model.scan_unroll", "train.matmul_precision")
# What rows without recorded settings ran with (benchmark files written before rows recorded them):
# their "variant" is relative to the engine's defaults of that time.
LEGACY_SETTINGS = {"model.recurrent_grad": "autodiff", "model.noise_rng": "threefry", "model.scan_unroll": 1,
                   "train.matmul_precision": "highest"}


def speed_settings(sweep: Sweep) -> dict:
    """The sweep's values of :data:`SPEED_SETTINGS` (those its model family has)."""
    out = {}
    for key in SPEED_SETTINGS:
        table, field = key.split(".")
        value = getattr(sweep.model if table == "model" else sweep.train, field, None)
        if value is not None:
            out[key] = value
    return out


@dataclasses.dataclass
class Throughput:
    rows: list[tuple[int, float, dict]]  # (sequence length, network-epochs/s, settings) per measurement
    source: str
    compile_s: float | None = None  # seconds to compile one block program (median of the measurements)
    assumes: str = "best measured"  # the speed settings the rows were measured with (see for_sweep)

    def for_sweep(self, sweep: Sweep) -> "Throughput":
        """The rows measured with the sweep's speed settings (all rows if none match)."""
        want = speed_settings(sweep)
        rows = [r for r in self.rows if all(r[2].get(k, v) == v for k, v in want.items())]
        label = ", ".join(f"{k.split('.')[1]}={v}" for k, v in want.items()) or "best measured"
        if not rows:
            rows, label = self.rows, f"best measured (nothing measured with {label})"
        return dataclasses.replace(self, rows=rows, assumes=label)

    def seconds_per_cell_step(self, n_steps: int) -> float:
        """Seconds per cell and step at ``n_steps``: the best rate of each measured length,
        interpolated in log T."""
        steps = np.array(sorted({r[0] for r in self.rows}), float)
        rates = np.array([max(r[1] for r in self.rows if r[0] == t) for t in steps], float)
        per_step = 1.0 / (rates * steps)
        if len(steps) == 1:
            return float(per_step[0])
        return float(np.exp(np.interp(np.log(n_steps), np.log(steps), np.log(per_step))))

    @classmethod
    def from_results(cls, path: str | Path) -> "Throughput":
        """Engine rows of a benchmarks.json (benchmarks/run.py, ``rnnsweep bench``) or a gpu.json
        (benchmarks/gpu.sh)."""
        data = json.loads(Path(path).read_text())
        if "engine" in data:
            found = data["engine"]
        else:
            found = [s["value"] for s in data.get("steps", []) if s.get("kind") == "engine" and "value" in s]
        rows = [(int(r["steps"]), float(r["net_epochs_per_s"]),
                 r.get("settings") or {**LEGACY_SETTINGS, **r.get("variant", {})}) for r in found]
        if not rows:
            raise ValueError(f"{path}: no engine measurements in it")
        compiles = [float(r["compile_s"]) for r in found if r.get("compile_s")]
        return cls(rows, f"{path} ({(data.get('machine') or {}).get('device')})",
                   float(np.median(compiles)) if compiles else None)

    @classmethod
    def calibrate(cls, n_cells: int = 32, n_steps: int = 46) -> "Throughput":
        from .bench import engine_throughput

        r = engine_throughput(n_cells, n_steps, min_time=2.0)
        return cls([(n_steps, r["net_epochs_per_s"], r["settings"])], f"calibration here ({n_cells} cells, T={n_steps})",
                   r["compile_s"])


def relative_cost(sweep: Sweep) -> float:
    """FLOPs of one cell-step relative to the reference network (N = 100, 128 trials, 2 in, 2 out)."""
    return sweep.model.flops_per_step(sweep.task.n_trials) / REFERENCE_NETWORK.flops_per_step(REFERENCE_TRIALS)


def plan_sweep(sweep: Sweep, throughput: Throughput, block_size: int | None = None) -> dict:
    throughput = throughput.for_sweep(sweep)
    size = schedule.block_size(sweep, block_size)
    blocks = schedule.blocks(sweep, size)
    largest = max(b.n_cells for b in blocks)
    scale = relative_cost(sweep)
    seconds = 0.0
    padded_work = real_work = 0
    for b in blocks:
        cells = schedule.padded_cells(b.n_cells, largest)
        seconds += cells * b.n_epochs_max * b.n_steps_max * throughput.seconds_per_cell_step(b.n_steps_max) * scale
        padded_work += cells * b.n_epochs_max * b.n_steps_max
        real_work += sum(c.n_epochs * c.n_steps for c in b.cells)
    # one compile per distinct block program (cells x steps), unless the compilation cache has it
    programs = {(schedule.padded_cells(b.n_cells, largest), b.n_steps_max) for b in blocks}
    compile_seconds = len(programs) * (throughput.compile_s or 0.0)
    seconds += compile_seconds
    peak = max(schedule.padded_cells(b.n_cells, largest) * schedule.bytes_per_cell(sweep, b.n_steps_max) for b in blocks)
    return {"sweep": sweep.name, "cells": sweep.n_cells, "blocks": len(blocks), "block_size": size,
            "network_epochs": int(sum(b.network_epochs for b in blocks)),
            "padding_overhead": padded_work / max(real_work, 1) - 1, "hours": seconds / 3600,
            "peak_memory_gb": peak / 2**30, "store_gb": limits.store_bytes(sweep) / 1e9,
            "snapshot_gb": limits.snapshot_bytes(sweep) / 1e9, "snapshot_every": sweep.run.snapshot_every,
            "programs": len(programs), "compile_hours": compile_seconds / 3600,
            "assumes": throughput.assumes}


def format_plan(rows: list[dict], throughput: Throughput) -> str:
    lines = [f"throughput: {throughput.source}",
             f"{'sweep':22s} {'cells':>7s} {'blocks':>6s} {'net-epochs':>12s} {'padding':>8s} {'hours':>9s} {'peak GB':>8s}"
             f" {'store GB':>9s}"]
    for r in rows:
        lines.append(f"{r['sweep']:22s} {r['cells']:7d} {r['blocks']:6d} {r['network_epochs']:12.3g} "
                     f"{100 * r['padding_overhead']:7.1f}% {r['hours']:9.2f} {r['peak_memory_gb']:8.2f} {r['store_gb']:9.2f}")
    if len(rows) > 1:
        lines.append(f"{'total':22s} {sum(r['cells'] for r in rows):7d} {sum(r['blocks'] for r in rows):6d} "
                     f"{sum(r['network_epochs'] for r in rows):12.3g} {'':8s} {sum(r['hours'] for r in rows):9.2f} "
                     f"{max(r['peak_memory_gb'] for r in rows):8.2f} {sum(r['store_gb'] for r in rows):9.2f}")
    lines.append("store GB: the results before compression (the curves past each cell's end are not counted)")
    for r in rows:
        if r["snapshot_every"]:
            size = f"{r['snapshot_gb']:.2f} GB" if r["snapshot_gb"] >= 0.1 else f"{1000 * r['snapshot_gb']:.1f} MB"
            lines.append(f"store GB of {r['sweep']} includes {size} of parameter snapshots "
                         f"(every {r['snapshot_every']} epochs)")
    if throughput.compile_s:
        lines.append(f"hours include {sum(r['programs'] for r in rows)} block programs to compile at "
                     f"{throughput.compile_s:.0f} s each (a warm compilation cache skips them)")
    for assumed in sorted({r["assumes"] for r in rows}):
        names = ", ".join(r["sweep"] for r in rows if r["assumes"] == assumed)
        lines.append(f"hours of {names}: measured with {assumed}")
    return "\n".join(lines)
