"""Projected wall time and peak memory of sweep files, before launch (``rnnsweep plan``).

The cost model: a block costs ``padded cells x padded epochs x steps`` cell-steps, and one
cell-step of the reference network (leaky RNN, N = 100, 128 trials) costs ``1 / (rate(T) * T)``
seconds, ``rate(T)`` being the best measured engine throughput (network-epochs/s) at sequence length
``T``, interpolated in log T between measured lengths. Other models and sizes scale with the model
family's own cost hint (``flops_per_step`` for the task's batch). Throughput comes from a
benchmarks.json of ``benchmarks/run.py`` or ``rnnsweep bench`` (same machine), or from a quick
calibration run here. Peak memory is the memory rule (``rnnsweep.schedule.bytes_per_cell``) times
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


@dataclasses.dataclass
class Throughput:
    steps: np.ndarray  # measured sequence lengths
    rates: np.ndarray  # best network-epochs/s at each (reference network)
    source: str

    def seconds_per_cell_step(self, n_steps: int) -> float:
        per_step = 1.0 / (self.rates * self.steps)
        if len(self.steps) == 1:
            return float(per_step[0])
        return float(np.exp(np.interp(np.log(n_steps), np.log(self.steps), np.log(per_step))))

    @classmethod
    def from_results(cls, path: str | Path) -> "Throughput":
        data = json.loads(Path(path).read_text())
        rows = data["engine"]
        steps = sorted({r["steps"] for r in rows})
        rates = [max(r["net_epochs_per_s"] for r in rows if r["steps"] == s) for s in steps]
        return cls(np.array(steps, float), np.array(rates, float), f"{path} ({data['machine']['device']})")

    @classmethod
    def calibrate(cls, n_cells: int = 32, n_steps: int = 46) -> "Throughput":
        from .bench import engine_throughput

        r = engine_throughput(n_cells, n_steps, min_time=2.0)
        return cls(np.array([float(n_steps)]), np.array([r["net_epochs_per_s"]]),
                   f"calibration here ({n_cells} cells, T={n_steps})")


def relative_cost(sweep: Sweep) -> float:
    """FLOPs of one cell-step relative to the reference network (N = 100, 128 trials, 2 in, 2 out)."""
    return sweep.model.flops_per_step(sweep.task.n_trials) / REFERENCE_NETWORK.flops_per_step(REFERENCE_TRIALS)


def plan_sweep(sweep: Sweep, throughput: Throughput, block_size: int | None = None) -> dict:
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
    peak = max(schedule.padded_cells(b.n_cells, largest) * schedule.bytes_per_cell(sweep, b.n_steps_max) for b in blocks)
    return {"sweep": sweep.name, "cells": sweep.n_cells, "blocks": len(blocks), "block_size": size,
            "network_epochs": int(sum(b.network_epochs for b in blocks)),
            "padding_overhead": padded_work / max(real_work, 1) - 1, "hours": seconds / 3600,
            "peak_memory_gb": peak / 2**30, "store_gb": limits.store_bytes(sweep) / 1e9}


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
    return "\n".join(lines)
