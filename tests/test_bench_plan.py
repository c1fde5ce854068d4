"""Benchmarks and the projection of sweep files (what they compute, not how fast: timings live in
benchmarks/results)."""

import json

import numpy as np
import pytest

from conftest import ROOT, run_cli
from rnnsweep.bench import flops_per_network_epoch, run_benchmarks, write_results
from rnnsweep.plan import Throughput, plan_sweep, relative_cost
from rnnsweep import schedule
from rnnsweep.schedule import padded_cells
from rnnsweep.sweep import load_sweep


def test_flop_count_is_the_stated_formula():
    assert flops_per_network_epoch(46) == 6 * 128 * 46 * 100 * 104


def test_benchmark_run_writes_json_table_and_plot(tmp_path):
    # the same shapes as the CLI test below: the two share their compiled programs
    result = run_benchmarks(steps=(16,), sizes=(1,), min_time=0.05, peak_sizes=(256,), log=lambda s: None,
                            torch_fn=lambda n: {"steps": n, "net_epochs_per_s": 10.0, "processes": 2},
                            peers={"a peer": lambda n: {"steps": n, "net_epochs_per_s": 5.0}})
    assert result["peak"]["gflops"] > 0
    assert [r["cells"] for r in result["engine"]] == [1]
    row = result["summary"][0]
    best = max(r["net_epochs_per_s"] for r in result["engine"])
    assert row["engine_best"] == best and row["vs_torch"] == pytest.approx(best / 10.0)
    assert row["vs_peers"] == {"a peer": pytest.approx(best / 5.0)}
    paths = write_results(result, tmp_path, "pytest")
    data = json.loads(paths[0].read_text())
    assert data["command"] == "pytest" and data["machine"]["cores"] >= 1
    table = paths[1].read_text()
    assert "| 16 | 1 |" in table and "engine / PyTorch" in table
    assert f"| 16 | a peer | 5.0 | {best / 5.0:.2f}x |" in table
    assert paths[2].stat().st_size > 5000


def test_throughput_interpolates_per_step_cost_in_log_t():
    tp = Throughput([(16, 200.0, {}), (96, 40.0, {})], "test")
    assert tp.seconds_per_cell_step(16) == pytest.approx(1 / (200 * 16))
    assert tp.seconds_per_cell_step(96) == pytest.approx(1 / (40 * 96))
    mid = tp.seconds_per_cell_step(int(np.sqrt(16 * 96)))
    ends = sorted([tp.seconds_per_cell_step(16), tp.seconds_per_cell_step(96)])
    assert ends[0] < mid < ends[1]


def test_plan_sums_block_costs():
    sweep = load_sweep(ROOT / "sweeps" / "demo.toml")
    tp = Throughput([(46, 100.0, {})], "test")
    plan = plan_sweep(sweep, tp, block_size=8)
    blocks = schedule.blocks(sweep, 8)
    largest = max(b.n_cells for b in blocks)
    expected = sum(padded_cells(b.n_cells, largest) * b.n_epochs_max * b.n_steps_max for b in blocks) / (100 * 46)
    assert plan["hours"] * 3600 == pytest.approx(expected * relative_cost(sweep))
    assert plan["cells"] == 48 and plan["network_epochs"] == sum(c.n_epochs for c in sweep.cells())
    assert 0 < plan["peak_memory_gb"] < 1
    programs = {(padded_cells(b.n_cells, largest), b.n_steps_max) for b in blocks}
    with_compiles = plan_sweep(sweep, Throughput([(46, 100.0, {})], "test", compile_s=10.0), block_size=8)
    assert plan["programs"] == len(programs) > 1
    assert with_compiles["hours"] * 3600 == pytest.approx(plan["hours"] * 3600 + 10.0 * len(programs))
    assert relative_cost(load_sweep(ROOT / "sweeps" / "dcd_nopost_broad.toml")) == 1.0


def test_plan_uses_the_rows_measured_with_the_sweeps_own_speed_settings(tmp_path):
    from rnnsweep.plan import LEGACY_SETTINGS, speed_settings

    sweep = load_sweep(ROOT / "sweeps" / "demo.toml")
    own = speed_settings(sweep)
    assert set(own) == {"model.recurrent_grad", "model.noise_rng", "model.scan_unroll", "train.matmul_precision"}
    other = {**own, "train.matmul_precision": "bfloat16"}
    tp = Throughput([(46, 100.0, own), (46, 400.0, other)], "test")
    assert tp.for_sweep(sweep).seconds_per_cell_step(46) == pytest.approx(1 / (100 * 46))  # not the faster bf16 row
    assert "matmul_precision=highest" in plan_sweep(sweep, tp, block_size=8)["assumes"]
    # a gpu.json of benchmarks/gpu.sh, rows with variants over the defaults of its time
    (tmp_path / "gpu.json").write_text(json.dumps({"machine": {"device": "gpu:test"}, "steps": [
        {"kind": "engine", "value": {"steps": 46, "net_epochs_per_s": 7.0, "variant": {}}},
        {"kind": "engine", "value": {"steps": 46, "net_epochs_per_s": 9.0, "variant": {"model.noise_rng": "hash"}}},
        {"kind": "demo", "value": {"cold_s": 1.0}}]}))
    rows = Throughput.from_results(tmp_path / "gpu.json").rows
    assert rows == [(46, 7.0, LEGACY_SETTINGS), (46, 9.0, {**LEGACY_SETTINGS, "model.noise_rng": "hash"})]


def test_plan_cli_projects_every_paper_sweep(tmp_path, capsys):
    path = tmp_path / "benchmarks.json"
    path.write_text(json.dumps({"machine": {"device": "test"}, "engine": [
        {"steps": 16, "cells": 64, "net_epochs_per_s": 1e5}, {"steps": 96, "cells": 64, "net_epochs_per_s": 2e4}]}))
    proc = run_cli("plan", "--throughput", path)
    assert proc.returncode == 0, proc.stderr
    for name in ("dcd_nopost_broad", "dcd_nopost_narrow", "dcd_post", "dcd_long_tau", "no_memory", "total"):
        assert name in proc.stdout
    total = [line for line in proc.stdout.splitlines() if line.startswith("total")][0]
    # the paper's ~81,500 networks, the 48 of the demo and the 120 of analysis_check, and the temporal
    # superposition sweeps (252 + 63 on a CPU, 3,600 on a GPU), the 8 of the 3-bit flip-flop's, and the
    # ghost and abrupt-learning sweeps (rank 165, delay 156, confidence 180, PLRNN 48, evidence 18 on a CPU;
    # rank 900 and evidence 60 on a GPU)
    assert int(total.split()[1]) == 81548 + 120 + 252 + 63 + 3600 + 8 + 165 + 156 + 180 + 48 + 18 + 900 + 60
    from rnnsweep.cli import main

    assert main(["plan", "--throughput", str(tmp_path / "missing.json")]) == 2  # the same CLI code, in process
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow  # 20 s: run_benchmarks itself is tested above; this is its command line and the torch worker
def test_bench_cli_runs_and_handles_the_torch_baseline(tmp_path):
    proc = run_cli("bench", "--steps", "16", "--sizes", "1", "--min-time", "0.05", "--torch", "--peak-sizes", "256",
                   "--out", tmp_path / "b", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "b" / "benchmarks.json").read_text())
    assert data["engine"][0]["cells"] == 1 and data["single"][0]["steps"] == 16
    assert data["peak"]["sizes"] == [256] and data["peak"]["gflops"] > 0
    if data["machine"]["torch"]:
        assert data["torch"][0]["processes"] >= 1  # the baseline ran in its own worker processes
    else:
        assert "PyTorch is not installed" in proc.stderr and data["torch"] == []


def test_compile_cache_location_follows_the_documented_order(tmp_path):
    from rnnsweep import compile_cache

    home = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert compile_cache.location(home) == tmp_path / "xdg" / "rnnsweep" / "jax"
    assert compile_cache.location({**home, "JAX_COMPILATION_CACHE_DIR": "/x"}) is None  # JAX's own setting
    assert compile_cache.location({**home, compile_cache.ENV: str(tmp_path / "c"), "JAX_COMPILATION_CACHE_DIR": "/x"}) \
        == tmp_path / "c"
    assert compile_cache.location({**home, compile_cache.ENV: "OFF"}) is None


def test_compile_cache_is_switched_on_in_jax(tmp_path):
    import jax

    from rnnsweep import compile_cache

    before = jax.config.jax_compilation_cache_dir
    try:
        assert compile_cache.enable({compile_cache.ENV: str(tmp_path / "cache")}) == tmp_path / "cache"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
        assert (tmp_path / "cache").is_dir()
        assert compile_cache.enable({compile_cache.ENV: "off"}) is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_validation_script_writes_each_variant_as_a_valid_sweep_file(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import validate

    label, settings = validate.parse_variant("tf32:train.matmul_precision=tensorfloat32,model.noise_rng=threefry,run.block_size=64")
    assert label == "tf32" and settings["run.block_size"] == "64"
    path = validate.write_variant(ROOT / "sweeps" / "demo.toml", settings, tmp_path / "v.toml")
    sweep = load_sweep(path)
    assert sweep.train.matmul_precision == "tensorfloat32" and sweep.model.noise_rng == "threefry"
    assert sweep.run.block_size == 64 and sweep.n_cells == load_sweep(ROOT / "sweeps" / "demo.toml").n_cells
    with pytest.raises(SystemExit, match="LABEL:table.key=value"):
        validate.parse_variant("bad:noise_rng")


def test_the_gpu_report_shows_the_finder_step(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu

    assert ("dynamics", {"networks": 1000}) in gpu.plan(tiny=False)
    result = {"machine": {"device": "gpu:test"}, "started": "now", "command": "gpu.py", "steps": [
        {"kind": "dynamics", "what": "dynamics", "value": {"networks": 1000, "per_call": {"1": 80.0, "64": 300.0},
                                                           "loop": 50.0, "stepped": 0.9}}]}
    gpu.write(tmp_path, result)
    text = (tmp_path / "gpu.md").read_text()
    assert "slow/fixed-point finder, 1000 networks of 32 neurons" in text and "64 per call 300.0; loop 50.0" in text
