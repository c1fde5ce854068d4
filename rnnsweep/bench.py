"""Benchmarks: the engine's throughput against one-network-at-a-time training and the hardware.

Measured in one run on one machine (ratios, never absolute promises):

* ``peak``: the dense float32 matmul rate of the device (best of several 2048^2 and 4096^2 matmuls);
* ``engine``: network-epochs/s of the vmapped block trainer at the paper's shapes (N = 100, 128
  trials, 16, 46 and 96 steps = delays 0, 150 and 400 ms) for ensemble sizes 1, 8, 64, ... up to
  what memory allows;
* ``single``: the engine's own jitted single-network trainer, one network after another;
* ``torch`` (benchmarks/torch_baseline.py, optional): the reference's way, one network per
  single-threaded PyTorch process, one process per core.

FLOPs per network-epoch (stated, and used for the fraction of peak): the matmuls of the forward
and backward pass, ``6 * trials * T * N * (N + inputs + outputs)`` (forward 2 B T N (N + I + O);
backward twice that). Elementwise work (tanh, noise, loss) is not counted.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import schedule
from .executor import Executor
from .plan import speed_settings
from .sweep import Sweep, parse_sweep
from .train import Trainer

DELAYS_FOR_STEPS = {16: 0.0, 46: 150.0, 96: 400.0}  # steps of the paper's trial (6 + delay + 10)

BENCH_SWEEP = """
name = "bench"
[model]
n_neurons = {n}
{model_extra}
[task]
name = "dcd"
trials_per_cue = 64
[train]
epochs = "{epochs}"
chunk_epochs = {chunk}
{train_extra}
[grid]
seed = {cells}
lr = [0.01]
delay_ms = [{delay}]
"""


def flops_per_network_epoch(n_steps: int, n_neurons: int = 100, n_trials: int = 128, n_in: int = 2,
                            n_out: int = 2) -> float:
    return 6.0 * n_trials * n_steps * n_neurons * (n_neurons + n_in + n_out)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = jax.devices()[0]
    info = {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "device": f"{dev.platform}:{dev.device_kind} x{len(jax.devices())}"}
    try:
        import torch  # noqa: F401

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def matmul_peak(sizes=(2048, 4096), repeats: int = 5) -> dict[str, float]:
    """Best dense float32 matmul rate (GFLOP/s) at full precision."""
    best = 0.0
    with jax.default_matmul_precision("highest"):
        for n in sizes:
            a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
            f = jax.jit(lambda x: x @ x)
            f(a).block_until_ready()
            for _ in range(repeats):
                t = time.perf_counter()
                f(a).block_until_ready()
                best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return {"gflops": best, "sizes": list(sizes)}


def bench_sweep(n_cells: int, n_steps: int, n_neurons: int = 100, chunk: int = 10,
                variant: dict[str, str] | None = None) -> Sweep:
    """The benchmark network at ``n_steps`` steps; ``variant`` sets ``model.*`` / ``train.*`` settings
    (e.g. ``{"train.matmul_precision": "tensorfloat32", "model.recurrent_grad": "autodiff"}``)."""
    variant = variant or {}
    extra = {table: "\n".join(f"{k.split('.', 1)[1]} = {json.dumps(v)}" for k, v in variant.items()
                                if k.startswith(table + "."))
             for table in ("model", "train")}
    return parse_sweep(BENCH_SWEEP.format(n=n_neurons, epochs=10**6, chunk=chunk, cells=n_cells,
                                          delay=DELAYS_FOR_STEPS[n_steps], model_extra=extra["model"],
                                          train_extra=extra["train"]))


class BenchBlock(NamedTuple):
    """A block of the benchmark network, ready to train: its sweep, executor and cell hyperparameters."""

    sweep: Sweep
    executor: Executor
    hypers: Any


def bench_block(n_cells: int, n_steps: int, n_neurons: int = 100, chunk: int = 10,
                variant: dict[str, str] | None = None) -> BenchBlock:
    """:func:`bench_sweep` with its executor and the hyperparameters of all its cells."""
    sweep = bench_sweep(n_cells, n_steps, n_neurons, chunk, variant)
    return BenchBlock(sweep, Executor(Trainer(sweep.model, sweep.task, sweep.train, sweep.regularizers)),
                      schedule.cell_hypers(sweep, sweep.cells()))


def engine_throughput(n_cells: int, n_steps: int, chunk: int = 10, min_time: float = 3.0,
                      n_neurons: int = 100, variant: dict[str, str] | None = None) -> dict[str, Any]:
    """Network-epochs/s of one block of ``n_cells`` (compile excluded), and the block program's
    memory: XLA's own account of the compiled chunk program (``compiled_bytes``: arguments, outputs
    and temporaries) beside the memory rule (``rule_bytes``: ``schedule.bytes_per_cell`` x cells)."""
    sweep, trainer, hypers = bench_block(n_cells, n_steps, n_neurons, chunk, variant)
    states = trainer.init_block(hypers)
    t0 = time.perf_counter()
    program, memory = trainer.compile_chunk(states, hypers, n_steps)
    with trainer.numerics():
        states, _ = program(states, hypers, jnp.int32(0))
        jax.block_until_ready(states)
        compile_s = time.perf_counter() - t0
        done, t0 = 0, time.perf_counter()
        while True:
            states, _ = program(states, hypers, jnp.int32(chunk * (done + 1)))
            jax.block_until_ready(states)
            done += 1
            if time.perf_counter() - t0 >= min_time:
                break
    rate = n_cells * chunk * done / (time.perf_counter() - t0)
    return {"cells": n_cells, "steps": n_steps, "net_epochs_per_s": rate, "compile_s": compile_s,
            "gflops": rate * flops_per_network_epoch(n_steps, n_neurons) / 1e9, "variant": dict(variant or {}),
            "settings": speed_settings(sweep),
            "compiled_bytes": memory, "rule_bytes": n_cells * schedule.bytes_per_cell(sweep, n_steps),
            "device_peak_bytes": schedule.memory_stats().get("peak_bytes_in_use")}


def epoch_breakdown(n_cells: int, n_steps: int, min_time: float = 2.0, n_neurons: int = 100,
                    variant: dict[str, str] | None = None) -> dict[str, Any]:
    """Where an epoch's time goes: milliseconds per epoch of a block of ``n_cells`` for the noise
    alone, the forward pass (loss and metrics), and forward + backward (gradient), each compiled on
    its own; compare with a full training epoch (:func:`engine_throughput`: plus the optimiser, the
    divergence checks and the epoch loop)."""
    sweep, ex, hypers = bench_block(n_cells, n_steps, n_neurons, variant=variant)
    trainer, model = ex.trainer, sweep.model
    hypers = jax.tree_util.tree_map(jnp.asarray, hypers)
    params = ex.init_block(hypers).params
    epoch = jnp.int32(3)
    parts = {
        "noise": lambda p, h: model.sample_noise(h.data_key, n_steps, sweep.task.n_trials),
        "forward": lambda p, h: trainer.epoch_loss(p, h, epoch, n_steps),
        "forward_backward": lambda p, h: jax.value_and_grad(trainer.epoch_loss, has_aux=True)(p, h, epoch, n_steps),
    }
    out: dict[str, Any] = {"cells": n_cells, "steps": n_steps, "variant": dict(variant or {})}
    with ex.numerics():
        for name, fn in parts.items():
            f = jax.jit(jax.vmap(fn))
            jax.block_until_ready(f(params, hypers))
            done, t0 = 0, time.perf_counter()
            while done < 3 or time.perf_counter() - t0 < min_time:
                jax.block_until_ready(f(params, hypers))
                done += 1
            out[f"{name}_ms"] = 1e3 * (time.perf_counter() - t0) / done
    return out


def single_throughput(n_steps: int, n_networks: int = 3, epochs: int = 20, n_neurons: int = 100) -> dict[str, float]:
    """The engine's jitted single-network trainer, one network after another."""
    _, trainer, hypers = bench_block(n_networks, n_steps, n_neurons)
    take = lambda i: jax.tree_util.tree_map(lambda x: np.asarray(x)[i], hypers)
    jax.block_until_ready(trainer.train_single(take(0), n_steps, epochs))  # compile
    t0 = time.perf_counter()
    for i in range(n_networks):
        jax.block_until_ready(trainer.train_single(take(i), n_steps, epochs))
    rate = n_networks * epochs / (time.perf_counter() - t0)
    return {"steps": n_steps, "net_epochs_per_s": rate, "gflops": rate * flops_per_network_epoch(n_steps, n_neurons) / 1e9}


def max_cells_for_memory(n_steps: int) -> int:
    """Cells of the benchmark network that the memory rule allows in one block."""
    return schedule.max_cells(bench_sweep(1, n_steps), n_steps)


def run_benchmarks(steps=(16, 46, 96), sizes=(1, 8, 64, 512), min_time: float = 3.0,
                   torch_fn: Callable[[int], dict] | None = None,
                   log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                   peak_sizes=(2048, 4096), peers: dict[str, Callable[[int], dict]] | None = None,
                   variants: dict[str, dict] | None = None, variant_cells: int = 8) -> dict[str, Any]:
    """The whole comparison; ``torch_fn(n_steps)`` runs the PyTorch per-network baseline when given,
    ``peers[label](n_steps)`` any other peer (e.g. the PyTorch ensembles), and ``variants[label]``
    (settings over the defaults, see :func:`bench_sweep`) the engine at ``variant_cells`` cells."""
    result: dict[str, Any] = {"machine": machine_info(), "flops_per_network_epoch": "6 * 128 * T * N * (N + 2 + 2)",
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    result["peak"] = matmul_peak(peak_sizes)
    log(f"matmul peak: {result['peak']['gflops']:.1f} GFLOP/s")
    result["engine"], result["single"], result["torch"], result["peers"] = [], [], [], []
    for n_steps in steps:
        cap = max_cells_for_memory(n_steps)
        for n in sizes:
            if n > cap:
                log(f"T={n_steps}: skipping {n} cells (memory allows about {cap})")
                continue
            r = engine_throughput(n, n_steps, min_time=min_time)
            r["fraction_of_peak"] = r["gflops"] / result["peak"]["gflops"]
            result["engine"].append(r)
            log(f"engine T={n_steps} cells={n}: {r['net_epochs_per_s']:.1f} net-epochs/s "
                f"({100 * r['fraction_of_peak']:.0f}% of peak)")
        s = single_throughput(n_steps)
        result["single"].append(s)
        log(f"single-network engine T={n_steps}: {s['net_epochs_per_s']:.1f} net-epochs/s")
        if torch_fn is not None:
            t = torch_fn(n_steps)
            result["torch"].append(t)
            log(f"torch per-network T={n_steps}: {t['net_epochs_per_s']:.1f} net-epochs/s on {t['processes']} processes")
        for label, variant in (variants or {}).items():
            r = engine_throughput(variant_cells, n_steps, min_time=min_time, variant=variant)
            r["fraction_of_peak"] = r["gflops"] / result["peak"]["gflops"]
            result["peers"].append({"label": f"engine, {label}", **r})
            log(f"engine ({label}) T={n_steps} cells={variant_cells}: {r['net_epochs_per_s']:.1f} net-epochs/s")
        for label, fn in (peers or {}).items():
            r = fn(n_steps)
            result["peers"].append({"label": label, **r})
            log(f"{label} T={n_steps}: {r['net_epochs_per_s']:.1f} net-epochs/s")
    best = {n_steps: max((r["net_epochs_per_s"] for r in result["engine"] if r["steps"] == n_steps), default=None)
            for n_steps in steps}
    result["summary"] = []
    for n_steps in steps:
        row = {"steps": n_steps, "engine_best": best[n_steps]}
        single = next((s for s in result["single"] if s["steps"] == n_steps), None)
        torch_row = next((t for t in result["torch"] if t["steps"] == n_steps), None)
        if single and best[n_steps]:
            row["vs_single"] = best[n_steps] / single["net_epochs_per_s"]
        if torch_row and best[n_steps]:
            row["vs_torch"] = best[n_steps] / torch_row["net_epochs_per_s"]
        if best[n_steps]:
            row["fraction_of_peak"] = best[n_steps] * flops_per_network_epoch(n_steps) / 1e9 / result["peak"]["gflops"]
            row["vs_peers"] = {p["label"]: best[n_steps] / p["net_epochs_per_s"]
                               for p in result["peers"] if p["steps"] == n_steps}
        result["summary"].append(row)
    return result


def write_results(result: dict[str, Any], out: str | Path, command: str) -> list[Path]:
    """benchmarks.json, benchmarks.md and throughput.png in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = dict(result, command=command)
    (out / "benchmarks.json").write_text(json.dumps(result, indent=2))
    m = result["machine"]
    lines = [f"# rnnsweep benchmarks ({result['started']})", "",
             f"Command: `{command}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores; device {m['device']}; {m['platform']}; "
             f"Python {m['python']}, JAX {m['jax']}, PyTorch {m['torch']}.", "",
             f"Dense float32 matmul peak: {result['peak']['gflops']:.1f} GFLOP/s. "
             f"FLOPs per network-epoch: {result['flops_per_network_epoch']} (forward + backward matmuls).", "",
             "| steps T | cells | network-epochs/s | GFLOP/s | % of peak | compile (s) |", "|---|---|---|---|---|---|"]
    for r in result["engine"]:
        lines.append(f"| {r['steps']} | {r['cells']} | {r['net_epochs_per_s']:.1f} | {r['gflops']:.1f} | "
                     f"{100 * r['fraction_of_peak']:.0f}% | {r['compile_s']:.1f} |")
    lines += ["", "| steps T | engine best | single-network engine | PyTorch per network (all cores) | engine / single | engine / PyTorch | % of peak |",
              "|---|---|---|---|---|---|---|"]
    for row in result["summary"]:
        single = next((s["net_epochs_per_s"] for s in result["single"] if s["steps"] == row["steps"]), float("nan"))
        torch_rate = next((t["net_epochs_per_s"] for t in result["torch"] if t["steps"] == row["steps"]), None)
        torch_cell = "-" if torch_rate is None else f"{torch_rate:.1f}"
        vs_torch = "-" if "vs_torch" not in row else f"{row['vs_torch']:.1f}x"
        lines.append(f"| {row['steps']} | {row['engine_best']:.1f} | {single:.1f} | {torch_cell} | "
                     f"{row.get('vs_single', float('nan')):.1f}x | {vs_torch} | "
                     f"{100 * row.get('fraction_of_peak', float('nan')):.0f}% |")
    if result.get("peers"):
        lines += ["", "Other configurations and peers, same run (engine best above / this):", "",
                  "| steps T | what | network-epochs/s | engine best / this |", "|---|---|---|---|"]
        for p in result["peers"]:
            best = next((r["engine_best"] for r in result["summary"] if r["steps"] == p["steps"]), None)
            ratio = f"{best / p['net_epochs_per_s']:.2f}x" if best else "-"
            lines.append(f"| {p['steps']} | {p['label']} | {p['net_epochs_per_s']:.1f} | {ratio} |")
    (out / "benchmarks.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for k, n_steps in enumerate(sorted({r["steps"] for r in result["engine"]})):
        rows = [r for r in result["engine"] if r["steps"] == n_steps]
        ax.loglog([r["cells"] for r in rows], [r["net_epochs_per_s"] for r in rows], "o-", color=f"C{k}",
                  label=f"engine, T={n_steps}")
        for s in result["single"]:
            if s["steps"] == n_steps:
                ax.axhline(s["net_epochs_per_s"], color=f"C{k}", ls=":", lw=1)
        for t in result["torch"]:
            if t["steps"] == n_steps:
                ax.axhline(t["net_epochs_per_s"], color=f"C{k}", ls="--", lw=1)
    ax.plot([], [], "k:", label="single-network engine")
    ax.plot([], [], "k--", label="PyTorch, one process per core")
    ax.set_xlabel("ensemble size (cells per block)")
    ax.set_ylabel("network-epochs / s")
    ax.set_title(f"Throughput on {m['device']} ({m['cores']} cores)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=130)
    plt.close(fig)
    return [out / "benchmarks.json", out / "benchmarks.md", out / "throughput.png"]


