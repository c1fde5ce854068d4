"""Validate a speed setting: train one sweep under several settings and compare the class counts.

    python benchmarks/validate.py SWEEP.toml --out DIR [--variant LABEL:key=value,key=value ...]
    python benchmarks/validate.py --compare STORE_A STORE_B [...] --out DIR

The first variant is the reference. For each variant the sweep is trained (``rnnsweep run``, its own
store under DIR) and classified with the analysis's rules; DIR/validation.json and validation.md
give the class counts, the networks whose class differs from the reference's (same seeds, same
initial networks: a paired comparison), and, per class, the difference in counts against its
binomial standard error (sqrt(n p (1 - p)) with p the pooled fraction). ``--compare`` classifies
stores that exist already (the first is the reference).

A setting passes when no class count differs by more than 2 standard errors; the report says so per
variant. Example (the reduced-precision check of docs/performance.md)::

    python benchmarks/validate.py sweeps/analysis_check.toml --out runs/validate \\
        --variant float32:train.matmul_precision=highest --variant tf32:train.matmul_precision=tensorfloat32
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    label, _, body = text.partition(":")
    settings = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if "." not in key or not value:
            raise SystemExit(f"--variant {text!r}: expected LABEL:table.key=value,...")
        settings[key.strip()] = value.strip()
    return label, settings


def write_variant(sweep: Path, settings: dict[str, str], out: Path) -> Path:
    """The sweep file with ``settings`` set in their tables (values parsed as TOML, else strings)."""
    lines = sweep.read_text().splitlines()
    for key, raw in settings.items():
        table, field = key.split(".", 1)
        try:
            tomllib.loads(f"v = {raw}")
            literal = raw
        except tomllib.TOMLDecodeError:
            literal = json.dumps(raw)
        kept, current = [], None
        for line in lines:  # drop the field's old line in its table
            stripped = line.strip()
            if stripped.startswith("["):
                current = stripped.strip("[] ")
            elif current == table and stripped.split("=")[0].strip() == field:
                continue
            kept.append(line)
        if f"[{table}]" not in [ln.strip() for ln in kept]:
            kept += [f"[{table}]"]
        at = [ln.strip() for ln in kept].index(f"[{table}]")
        lines = kept[:at + 1] + [f"{field} = {literal}"] + kept[at + 1:]
    out.write_text("\n".join(lines) + "\n")
    tomllib.loads(out.read_text())  # still a valid file
    return out


def counts(store: Path) -> tuple[dict[str, int], list[int]]:
    from rnnsweep.analysis import classify_sweep

    result = classify_sweep(store, progress=False)
    return result.counts(), [int(c) for c in result.classes.ravel()]


def compare(named: list[tuple[str, Path]], out: Path, timings: dict[str, float]) -> None:
    from rnnsweep.analysis.classify import CLASS_NAMES

    rows = {label: counts(store) for label, store in named}
    ref_label, (ref_counts, ref_classes) = named[0][0], rows[named[0][0]]
    n = len(ref_classes)
    report = {"reference": ref_label, "networks": n, "variants": {}}
    lines = ["# Validation of speed settings", "", f"{n} networks per variant; reference: {ref_label}.", "",
             "| variant | " + " | ".join(CLASS_NAMES[1:]) + " | changed class | max |diff| / SE | train (s) | verdict |",
             "|---|" + "---|" * (len(CLASS_NAMES) - 1) + "---|---|---|---|"]
    for label, (c, classes) in rows.items():
        changed = sum(a != b for a, b in zip(classes, ref_classes))
        worst = 0.0
        for name in CLASS_NAMES[1:]:
            p = (c[name] + ref_counts[name]) / (2 * n)
            se = (n * p * (1 - p)) ** 0.5
            if se > 0:
                worst = max(worst, abs(c[name] - ref_counts[name]) / se)
        verdict = "reference" if label == ref_label else ("passes" if worst <= 2 else "FAILS")
        report["variants"][label] = {"counts": c, "changed": changed, "max_z": worst, "verdict": verdict,
                                     "train_s": timings.get(label)}
        train = f"{timings[label]:.0f}" if label in timings else ""
        lines.append(f"| {label} | " + " | ".join(str(c[k]) for k in CLASS_NAMES[1:]) +
                     f" | {changed} | {worst:.2f} | {train} | {verdict} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.json").write_text(json.dumps(report, indent=2))
    (out / "validation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, nargs="?")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", action="append", default=[], help="LABEL:table.key=value,... (first: reference)")
    parser.add_argument("--compare", type=Path, nargs="+", help="classify these stores instead of training")
    args = parser.parse_args()
    if args.compare:
        compare([(p.stem, p) for p in args.compare], args.out, {})
        return
    if not args.sweep or len(args.variant) < 2:
        raise SystemExit("give a sweep file and at least two --variant (the first is the reference)")
    args.out.mkdir(parents=True, exist_ok=True)
    named, timings = [], {}
    for text in args.variant:
        label, settings = parse_variant(text)
        sweep = write_variant(args.sweep, settings, args.out / f"{label}.toml")
        store = args.out / f"{label}.zarr"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rnnsweep", "run", str(sweep), "--store", str(store), "--quiet",
                        "--overwrite"], check=True, cwd=ROOT)
        timings[label] = time.perf_counter() - t0
        named.append((label, store))
    compare(named, args.out, timings)


if __name__ == "__main__":
    main()
