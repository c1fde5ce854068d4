"""The full benchmark suite: engine vs single-network engine vs PyTorch per network vs matmul peak.

    python benchmarks/run.py [--out benchmarks/results/<machine>] [--sizes 1,8,64,256,512] [--steps 16,46,96]

Writes benchmarks.json, benchmarks.md and throughput.png (see rnnsweep/bench.py for what is
measured and the FLOP count). The PyTorch baseline needs the `bench` extra; without it that column
is skipped with a message.
"""

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rnnsweep.bench import run_benchmarks, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "latest")
    parser.add_argument("--sizes", default="1,8,64,256,512")
    parser.add_argument("--steps", default="16,46,96")
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds of timed chunks per point")
    parser.add_argument("--torch-epochs", type=int, default=10)
    parser.add_argument("--ensemble-size", type=int, default=64, help="networks of the PyTorch ensemble peers")
    parser.add_argument("--torch-compile", action="store_true", help="also the stacked ensemble under torch.compile")
    parser.add_argument("--before", action="store_true",
                        help="also the engine with the speed settings of before (autodiff gradient, threefry noise)")
    args = parser.parse_args()
    import torch_baseline

    torch_fn, peers = None, {}
    if torch_baseline.available():
        torch_fn = lambda n_steps: torch_baseline.torch_throughput(n_steps, epochs=args.torch_epochs)  # noqa: E731
        for mode, compiled in [("stacked", False), ("vmap", False)] + [("stacked", True)] * args.torch_compile:
            label = f"PyTorch {mode} ensemble of {args.ensemble_size}" + (", torch.compile" if compiled else "")
            peers[label] = (lambda m, c: lambda n_steps: torch_baseline.ensemble_throughput(
                n_steps, args.ensemble_size, epochs=5, mode=m, compile=c))(mode, compiled)
    else:
        print("PyTorch is not installed: skipping the PyTorch baseline (pip install -e '.[bench]')", file=sys.stderr)
    variants = {"before (autodiff, threefry)": {"model.recurrent_grad": "autodiff", "model.noise_rng": "threefry"}} \
        if args.before else {}
    result = run_benchmarks(tuple(int(s) for s in args.steps.split(",")), tuple(int(s) for s in args.sizes.split(",")),
                            args.min_time, torch_fn, peers=peers, variants=variants)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    for path in write_results(result, args.out, command):
        print(path)


if __name__ == "__main__":
    main()
