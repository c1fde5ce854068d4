"""PyTorch baseline: train networks one at a time the way the reference code does.

A Python loop over time steps, ``torch.optim.SGD(momentum=0.9, weight_decay=1e-7)``, the full
batch of 128 trials, N = 100, noise drawn per step; one single-threaded process per core, all cores
busy. Needs the ``bench`` extra (``pip install -e ".[bench]"``, or ``pip install torch``).

Run alone: ``python benchmarks/torch_baseline.py --steps 46``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time


def _train(args: tuple[int, int, int, int]) -> float:
    """One process: train ``n_networks`` networks for ``epochs`` epochs; returns its wall time."""
    seed, n_steps, epochs, n_networks = args
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    n, b, dt_over_tau = 100, 128, 0.5
    delay = n_steps - 16
    x = torch.zeros(b, n_steps, 2)
    y = torch.zeros(b, n_steps, 2)
    x[:64, :6, 1] = 1
    x[64:, :6, 0] = 1
    y[:64, 6 + delay:, 1] = 1
    y[64:, 6 + delay:, 0] = 1
    w = torch.full((n_steps,), 10 / n_steps)
    w[-10:] = 1 - 10 / n_steps
    start = time.perf_counter()
    for _ in range(n_networks):
        w_in, w_rec, w_out = torch.nn.Linear(2, n), torch.nn.Linear(n, n), torch.nn.Linear(n, 2)
        params = list(w_in.parameters()) + list(w_rec.parameters()) + list(w_out.parameters())
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-7)
        for _ in range(epochs):
            r = torch.tanh(0.1 * torch.randn(b, n))
            outs = []
            for t in range(n_steps):
                outs.append(torch.sigmoid(w_out(r)))
                noise = 0.001 * torch.randn(b, n)
                r = (1 - dt_over_tau) * r + dt_over_tau * torch.tanh(w_rec(r) + w_in(x[:, t]) + noise)
            out = torch.stack(outs, 1)
            loss = (w[None, :, None] * (out - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def torch_throughput(n_steps: int, epochs: int = 20, networks_per_process: int = 1,
                     processes: int | None = None) -> dict:
    """Network-epochs/s of ``processes`` (default: all cores) single-threaded trainers at once."""
    processes = processes or os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        pool.map(_train, [(i, n_steps, 2, 1) for i in range(processes)])  # warm up imports
        t0 = time.perf_counter()
        pool.map(_train, [(i, n_steps, epochs, networks_per_process) for i in range(processes)])
        wall = time.perf_counter() - t0
    rate = processes * networks_per_process * epochs / wall
    return {"steps": n_steps, "net_epochs_per_s": rate, "processes": processes, "epochs": epochs}


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=46)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    if not available():
        raise SystemExit("PyTorch is not installed: pip install -e '.[bench]' (or pip install torch) to run the baseline")
    print(json.dumps(torch_throughput(args.steps, args.epochs)))
