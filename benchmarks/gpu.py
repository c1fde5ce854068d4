"""One GPU session's measurements, most valuable first, within a time budget (benchmarks/gpu.sh).

    python benchmarks/gpu.py --out DIR [--budget-s 540] [--tiny]

Each step is skipped once the budget is spent, and the results are rewritten after every step (so
a run cut short still leaves its numbers). First, in their own processes while this one has not
touched the GPU: the PyTorch stacked ensemble at T = 46 and 96, the demo sweep with a cold and a
warm compilation cache, the ``torch.func.vmap`` ensemble, the stacked ensemble under
``torch.compile``, the reference-style per-network processes on the CPU cores, and the
slow/fixed-point finder on 1,000 networks (benchmarks/dynamics.py). Then the float32
matmul peak and the engine (N = 100, 128 trials): the settings of before (autodiff gradient,
threefry noise), the hand-written gradient alone, the defaults, unrolled time loops, an epoch
breakdown, TF32 and bf16 matmuls, T = 16, 4,096-cell blocks and the single-network trainer. Every
engine point also records XLA's memory account of its compiled program beside the memory rule
(``schedule.bytes_per_cell``) and the device allocator's peak so far.

``--tiny`` runs the same steps at toy sizes (for checking the script on a CPU before GPU time is
spent). Writes ``gpu.json`` and ``gpu.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rnnsweep import bench, schedule  # noqa: E402

BASE = {"model.recurrent_grad": "autodiff", "model.noise_rng": "threefry"}  # the engine before 2026-11-27
VJP = {"model.noise_rng": "threefry"}  # the hand-written gradient alone
FAST = {}  # the defaults: hand-written gradient, hash noise, float32 "highest"
FAST_U4 = {**FAST, "model.scan_unroll": 4}
FAST_U8 = {**FAST, "model.scan_unroll": 8}
TF32 = {**FAST, "train.matmul_precision": "tensorfloat32"}
BF16 = {**FAST, "train.matmul_precision": "bfloat16"}


def plan(tiny: bool) -> list[tuple[str, dict]]:
    """The steps: first those that run in their own processes (PyTorch, the demo), while this process
    has not touched the GPU (JAX keeps what it allocates); then the engine, most valuable first."""
    big, huge = (8, 16) if tiny else (1024, 4096)
    torch_e = 8 if tiny else 2048
    steps: list[tuple[str, dict]] = [
        ("torch_ensemble", dict(steps=46, networks=torch_e, mode="stacked", compile=False)),
        ("torch_ensemble", dict(steps=96, networks=torch_e, mode="stacked", compile=False)),
        ("demo", {}),
        ("torch_ensemble", dict(steps=46, networks=torch_e, mode="vmap", compile=False)),
        ("torch_ensemble", dict(steps=46, networks=torch_e, mode="stacked", compile=True)),
        ("torch_processes", dict(steps=46)),
        ("dynamics", dict(networks=16 if tiny else 1000)),
        ("peak", {}),
    ]
    steps += [("engine", dict(steps=46, cells=big, variant=v)) for v in (BASE, VJP, FAST, FAST_U4, FAST_U8)]
    steps += [("breakdown", dict(steps=46, cells=big, variant=BASE))]
    steps += [("engine", dict(steps=96, cells=big, variant=v)) for v in (BASE, FAST, FAST_U8)]
    steps += [("engine", dict(steps=t, cells=big, variant=v)) for t in (46, 96) for v in (TF32, BF16)]
    steps += [("engine", dict(steps=16, cells=big, variant=v)) for v in (BASE, FAST)]
    steps += [("engine", dict(steps=t, cells=huge, variant=FAST)) for t in (16, 46, 96)]
    steps += [("engine", dict(steps=46, cells=huge, variant=BASE)), ("breakdown", dict(steps=46, cells=big, variant=FAST)),
              ("single", dict(steps=46))]
    return steps


def fits(kw: dict, seen: dict, limit: int | None) -> str | None:
    """Why a larger block would not fit the device (from a smaller block's compiled bytes per cell)."""
    per_cell = seen.get((kw["steps"], json.dumps(kw["variant"], sort_keys=True)))
    if limit and per_cell and per_cell * kw["cells"] > 0.85 * limit:
        return f"skipped: {per_cell * kw['cells'] / 1e9:.0f} GB expected, the device offers {limit / 1e9:.0f} GB"
    return None


def run_torch(kind: str, args: dict, timeout: float) -> dict:
    """A PyTorch peer in its own process (a hung torch.compile cannot stop the run)."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "torch_baseline.py"), "--steps", str(args["steps"]), "--epochs", "5"]
    if kind == "torch_ensemble":
        cmd += ["--ensemble", args["mode"], "--networks", str(args["networks"])] + (["--compile"] if args["compile"] else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_demo(tiny: bool, timeout: float) -> dict:
    """The demo sweep twice with one fresh compilation cache: cold, then warm (--overwrite)."""
    sweep = ROOT / "sweeps" / "demo.toml"
    with tempfile.TemporaryDirectory() as tmp:
        if tiny:  # a shorter demo: fewer epochs
            text = sweep.read_text().replace('epochs = "max(300, 30/lr)"', 'epochs = "20"').replace("seed = 4", "seed = 1").replace(
                "chunk_epochs = 100", "chunk_epochs = 10")
            sweep = Path(tmp) / "demo.toml"
            sweep.write_text(text)
        env = dict(os.environ, RNNSWEEP_COMPILE_CACHE=str(Path(tmp) / "cache"))
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        out = {}
        for label, extra in (("cold", []), ("warm", ["--overwrite"])):
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "rnnsweep", "run", str(sweep), "--store", str(Path(tmp) / "demo.zarr"),
                                   "--quiet", *extra], env=env, cwd=ROOT, timeout=timeout, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"rnnsweep run ({label}) exit {done.returncode}: {done.stderr.strip()[-200:]}")
            out[f"{label}_s"] = time.perf_counter() - t0
        out["cache_files"] = len(list((Path(tmp) / "cache").rglob("*")))
    return out


def run_dynamics(networks: int, timeout: float) -> dict:
    """The slow/fixed-point finder (benchmarks/dynamics.py) on a store of ``networks`` small networks
    it trains first: networks/s with 1, 64 and 256 networks per call, and the per-network loops."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dynamics.py"), "--train", str(networks),
                               "--out", tmp, "--batches", "1,64,256", "--loop-networks", str(min(networks, 50)),
                               "--stepped-networks", "2"], cwd=ROOT, timeout=timeout, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"benchmarks/dynamics.py exit {done.returncode}: {done.stderr.strip()[-200:]}")
        row = json.loads((Path(tmp) / "dynamics.json").read_text())["rows"][0]
    return {"networks": row["networks"], "per_call": {b: v["networks_per_s"] for b, v in row["vmapped"].items()},
            "loop": row["loop_networks_per_s"], "stepped": row["stepped_networks_per_s"]}


def describe(kind: str, args: dict) -> str:
    if kind in ("engine", "breakdown"):
        variant = ", ".join(f"{k.split('.')[1]}={v}" for k, v in args["variant"].items()) or "defaults"
        return f"{kind} T={args['steps']} cells={args['cells']} ({variant})"
    return f"{kind} {json.dumps(args)}" if args else kind


def write(out: Path, result: dict) -> None:
    (out / "gpu.json").write_text(json.dumps(result, indent=2))
    peak = result.get("peak", {}).get("gflops")
    m = result["machine"] or {}
    lines = [f"# GPU session ({result['started']})", "", f"Command: `{result['command']}`", "",
             f"Device {m.get('device')}; {m.get('cpu')}, {m.get('cores')} cores; Python {m.get('python')}, "
             f"JAX {m.get('jax')}, PyTorch {m.get('torch')}.", "",
             f"float32 matmul peak (highest precision): {peak or float('nan'):.0f} GFLOP/s. "
             "FLOPs per network-epoch: 6 * 128 * T * N * (N + 2 + 2).", "",
             "| what | network-epochs/s | % of fp32 peak | compile / warm-up (s) | XLA program MB/cell | rule MB/cell | allocator peak so far (GB) |",
             "|---|---|---|---|---|---|---|"]
    for r in result["steps"]:
        if "error" in r or "skipped" in r:
            lines.append(f"| {r['what']} | {r.get('error') or r.get('skipped')} | | | | | |")
            continue
        v = r["value"]
        if r["kind"] == "peak":
            continue
        if r["kind"] == "demo":
            lines.append(f"| demo sweep (48 cells), compilation cache cold / warm | {v['cold_s']:.1f} s / {v['warm_s']:.1f} s (wall) | | | | | |")
            continue
        if r["kind"] == "dynamics":
            per_call = ", ".join(f"{b} per call {rate:.1f}" for b, rate in v["per_call"].items())
            lines.append(f"| slow/fixed-point finder, {v['networks']} networks of 32 neurons: networks/s | {per_call}; "
                         f"loop {v['loop']:.1f}; Python-stepped {v['stepped']:.2f} | | | | | |")
            continue
        if r["kind"] == "breakdown":
            lines.append(f"| {r['what']}: ms per epoch of the block | noise {v['noise_ms']:.1f}, forward {v['forward_ms']:.1f}, "
                         f"forward+backward {v['forward_backward_ms']:.1f} | | | | | |")
            continue
        rate = v["net_epochs_per_s"]
        frac = f"{100 * rate * bench.flops_per_network_epoch(v['steps']) / 1e9 / peak:.0f}%" if peak else ""
        per_cell = lambda b: "" if not b else f"{b / v['cells'] / 1e6:.1f}"  # noqa: E731
        dev_peak = v.get("device_peak_bytes")
        what = r["what"] + (f" x{v['processes']} processes" if "processes" in v else "")
        lines.append(f"| {what} | {rate:,.0f} | {frac} | {v.get('compile_s', v.get('warmup_s', float('nan'))):.1f} | "
                     f"{per_cell(v.get('compiled_bytes'))} | {per_cell(v.get('rule_bytes'))} | "
                     f"{'' if not dev_peak else f'{dev_peak / 1e9:.1f}'} |")
    (out / "gpu.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=540.0, help="start no step after this many seconds")
    parser.add_argument("--tiny", action="store_true", help="toy sizes, for checking the script on a CPU")
    args = parser.parse_args()
    t_start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": None, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "steps": []}
    min_time = 0.5 if args.tiny else 2.0
    seen: dict = {}  # (steps, variant) -> compiled bytes per cell
    for kind, kw in plan(args.tiny):
        left = args.budget_s - (time.perf_counter() - t_start)
        row = {"kind": kind, "args": kw, "what": describe(kind, kw)}
        in_process = kind in ("peak", "engine", "breakdown", "single")
        if in_process and result["machine"] is None:
            result["machine"] = bench.machine_info()  # the first use of the GPU by this process
            result["machine"]["device_memory_bytes"] = schedule.device_memory()
        if left <= 0:
            row["skipped"] = "skipped: out of time"
        elif kind == "engine" and (why := fits(kw, seen, schedule.device_memory())):
            row["skipped"] = why
        if "skipped" in row:
            result["steps"].append(row)
            continue
        print(f"[{time.perf_counter() - t_start:6.1f} s] {row['what']}", file=sys.stderr, flush=True)
        try:
            if kind == "peak":
                result["peak"] = bench.matmul_peak((1024, 2048) if args.tiny else (4096, 8192))
                row["value"] = result["peak"]
            elif kind == "engine":
                row["value"] = bench.engine_throughput(kw["cells"], kw["steps"], min_time=min_time, variant=kw["variant"])
                if row["value"]["compiled_bytes"]:
                    key = (kw["steps"], json.dumps(kw["variant"], sort_keys=True))
                    seen[key] = row["value"]["compiled_bytes"] / kw["cells"]
            elif kind == "breakdown":
                row["value"] = bench.epoch_breakdown(kw["cells"], kw["steps"], min_time=min_time, variant=kw["variant"])
            elif kind == "single":
                row["value"] = bench.single_throughput(kw["steps"], n_networks=2, epochs=10 if args.tiny else 40)
            elif kind == "demo":
                row["value"] = run_demo(args.tiny, timeout=max(60.0, min(left, 150.0)))
            elif kind == "dynamics":
                row["value"] = run_dynamics(kw["networks"], timeout=max(60.0, min(left, 150.0)))
            else:
                row["value"] = run_torch(kind, kw, timeout=max(30.0, min(left, 75.0 if kw.get("compile") else 100.0)))
        except Exception as e:  # noqa: BLE001 - one failed step must not lose the others
            row["error"] = f"{type(e).__name__}: {e}"[:300]
        print(f"    {json.dumps(row.get('value', row.get('error')))[:300]}", file=sys.stderr, flush=True)
        result["steps"].append(row)
        write(args.out, result)
    result["wall_s"] = time.perf_counter() - t_start
    write(args.out, result)
    print(args.out / "gpu.md")


if __name__ == "__main__":
    main()
