"""PyTorch baselines: what a user would run instead of rnnsweep, at the benchmark's shapes.

* :func:`torch_throughput`: networks one at a time the way the reference code does. A Python loop
  over time steps, ``torch.optim.SGD(momentum=0.9, weight_decay=1e-7)``, the full batch of 128
  trials, N = 100, noise drawn per step; one single-threaded process per core, all cores busy.
* :func:`ensemble_throughput`: E networks at once on one device, the way a PyTorch user batches an
  ensemble. ``"stacked"``: weights stacked along a leading network axis, one ``torch.baddbmm`` per
  step for all networks; ``"vmap"``: one network's functional loss (``torch.func.functional_call``)
  vmapped over the stacked parameters with ``torch.func.vmap(torch.func.grad(...))``. Either one
  optionally under ``torch.compile`` (whole training step). The same SGD with momentum and weight
  decay (elementwise, so per network exactly as with one optimiser each).

Needs the ``bench`` extra (``pip install -e ".[bench]"``, or ``pip install torch``).

Run alone: ``python benchmarks/torch_baseline.py --steps 46 [--ensemble stacked --networks 256 --compile]``.
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


def _dcd_batch(torch, n_steps: int, device):
    """The benchmark's DCD batch (128 trials, cue 6 steps, response 10) and its loss weights."""
    b, delay = 128, n_steps - 16
    x = torch.zeros(n_steps, b, 2, device=device)
    y = torch.zeros(n_steps, b, 2, device=device)
    x[:6, :64, 1] = 1
    x[:6, 64:, 0] = 1
    y[6 + delay:, :64, 1] = 1
    y[6 + delay:, 64:, 0] = 1
    w = torch.full((n_steps,), 10 / n_steps, device=device)
    w[-10:] = 1 - 10 / n_steps
    return x, y, w


def _stacked_init(torch, n_networks: int, device, n: int = 100):
    """Stacked parameters with torch.nn.Linear's default initialisation, per network."""
    def uniform(*shape, fan_in):
        bound = 1 / fan_in ** 0.5
        return (torch.rand(n_networks, *shape, device=device) * 2 - 1) * bound

    return {"w_in": uniform(n, 2, fan_in=2), "b_in": uniform(1, n, fan_in=2),
            "w_rec": uniform(n, n, fan_in=n), "b_rec": uniform(1, n, fan_in=n),
            "w_out": uniform(2, n, fan_in=n), "b_out": uniform(1, 2, fan_in=n)}


def ensemble_throughput(n_steps: int, n_networks: int = 256, epochs: int = 10, mode: str = "stacked",
                        compile: bool = False, device: str | None = None) -> dict:
    """Network-epochs/s of ``n_networks`` trained together on one device (warm-up and compile
    excluded, reported as ``warmup_s``)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    n, a, e = 100, 0.5, n_networks
    x, y, w = _dcd_batch(torch, n_steps, device)
    b = x.shape[1]
    params = _stacked_init(torch, e, device, n)

    def loss_stacked(p, z0, noise):  # p: stacked (E, ...); z0 (E, B, N); noise (T, E, B, N)
        drive = torch.matmul(x[:, None], p["w_in"].transpose(1, 2)) + p["b_in"] + p["b_rec"] + noise
        r, w_rec_t, outs = torch.tanh(0.1 * z0), p["w_rec"].transpose(1, 2), []
        for t in range(n_steps):
            outs.append(r)
            r = (1 - a) * r + a * torch.tanh(torch.baddbmm(drive[t], r, w_rec_t))
        out = torch.sigmoid(torch.matmul(torch.stack(outs), p["w_out"].transpose(1, 2)) + p["b_out"])
        return (((out - y[:, None]) ** 2) * w[:, None, None, None]).mean(dim=(0, 2, 3)).sum()

    def loss_one(p, z0, noise):  # one network: p (...); z0 (B, N); noise (T, B, N)
        drive = x @ p["w_in"].T + p["b_in"] + p["b_rec"] + noise
        r, outs = torch.tanh(0.1 * z0), []
        for t in range(n_steps):
            outs.append(r)
            r = (1 - a) * r + a * torch.tanh(torch.addmm(drive[t], r, p["w_rec"].T))
        out = torch.sigmoid(torch.stack(outs) @ p["w_out"].T + p["b_out"])
        return (((out - y) ** 2) * w[:, None, None]).mean()

    if mode == "stacked":
        for v in params.values():
            v.requires_grad_(True)
        opt = torch.optim.SGD(list(params.values()), lr=0.01, momentum=0.9, weight_decay=1e-7)

        def step():
            z0 = torch.randn(e, b, n, device=device)
            loss = loss_stacked(params, z0, 0.001 * torch.randn(n_steps, e, b, n, device=device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    elif mode == "vmap":
        from torch.func import grad, vmap

        bufs = {k: torch.zeros_like(v) for k, v in params.items()}
        per_network = vmap(grad(loss_one))

        def step():
            z0 = torch.randn(e, b, n, device=device)
            grads = per_network(params, z0, 0.001 * torch.randn(e, n_steps, b, n, device=device))
            with torch.no_grad():
                for k, g in grads.items():
                    bufs[k].mul_(0.9).add_(g + 1e-7 * params[k])
                    params[k].sub_(0.01 * bufs[k])
    else:
        raise ValueError(f"mode: expected 'stacked' or 'vmap', got {mode!r}")
    if compile:
        step = torch.compile(step)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    step()
    step()
    sync()
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(epochs):
        step()
    sync()
    rate = n_networks * epochs / (time.perf_counter() - t0)
    return {"steps": n_steps, "networks": n_networks, "mode": mode, "compile": compile, "device": device,
            "net_epochs_per_s": rate, "warmup_s": warmup_s, "epochs": epochs}


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
    parser.add_argument("--ensemble", choices=("stacked", "vmap"), help="an ensemble on one device instead of processes")
    parser.add_argument("--networks", type=int, default=256, help="ensemble size")
    parser.add_argument("--compile", action="store_true", help="torch.compile the ensemble's training step")
    args = parser.parse_args()
    if not available():
        raise SystemExit("PyTorch is not installed: pip install -e '.[bench]' (or pip install torch) to run the baseline")
    if args.ensemble:
        print(json.dumps(ensemble_throughput(args.steps, args.networks, args.epochs, args.ensemble, args.compile)))
    else:
        print(json.dumps(torch_throughput(args.steps, args.epochs)))
