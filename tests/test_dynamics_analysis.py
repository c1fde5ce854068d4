"""The opt-in ``dynamics`` analysis end to end on a tiny store with training snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from rnnsweep.analysis import analyze
from rnnsweep.analysis import dynamics_analysis as da
from rnnsweep.analysis.classes import Classes
from rnnsweep.analysis.dynamics import LABELS
from rnnsweep.cli import main

from conftest import tiny_sweep_text


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dynamics")
    sweep = folder / "snap.toml"
    # one trial length (one program of each kind to compile), three snapshots; blocks of 2 cells of 8
    # neurons in chunks of 10 epochs: the programs of tests/test_snapshots.py's sweep (compiled once a session)
    sweep.write_text(tiny_sweep_text(n_neurons=8, epochs="40", chunk_epochs=10, lrs="[0.5, 0.2]",
                                     delays="[20.0]", n_seeds=2, block_size=2).replace(
        "[run]", "[run]\nsnapshot_every = 20"))
    store = folder / "snap.zarr"
    assert main(["run", str(sweep), "--store", str(store), "--quiet"]) == 0
    out = folder / "report"
    # in process and without the classes' index variants: what `analyze --only classes --dynamics` runs,
    # at a third of the cost (the flag itself: test_the_dynamics_flag_asks_for_the_analysis)
    analyze([store], out, only=["classes"], also=["dynamics"], configured={"classes": Classes(sensitivity=False)},
            progress=False, log=lambda s: None)
    return store, out


def test_the_dynamics_flag_asks_for_the_analysis(monkeypatch, tmp_path):
    import rnnsweep.analysis

    asked = {}
    monkeypatch.setattr(rnnsweep.analysis, "analyze", lambda stores, out, **kw: asked.update(kw) or {"ok": 1})
    (tmp_path / "s.zarr").mkdir()
    (tmp_path / "s.zarr" / "zarr.json").write_text("{}")
    assert main(["analyze", str(tmp_path / "s.zarr"), "--dynamics", "--quiet"]) == 0
    assert list(asked["also"]) == ["dynamics"]
    assert main(["analyze", str(tmp_path / "s.zarr"), "--quiet"]) == 0
    assert list(asked["also"]) == []


def test_analyze_dynamics_writes_its_arrays_report_and_figures(analysed):
    store, out = analysed
    summary = json.loads((out / "summary.json").read_text())
    assert "dynamics" in summary["analyses"]
    report = (out / "report.md").read_text()
    assert "## Dynamics" in report and "### Mechanism over training" in report
    group = zarr.open_group(str(store / "tiny" / "analysis" / "dynamics"), mode="r")
    counts = np.asarray(group["point_counts"])
    assert counts.shape == (2, 2, 1, len(LABELS))
    assert list(np.asarray(group["label"])) == list(range(len(LABELS))) and group.attrs["labels"] == list(LABELS)
    status = np.asarray(zarr.open_group(str(store / "tiny"), mode="r")["status"])
    assert np.all(counts[status == 1] >= 0) and np.all(counts[status != 1] == -1)
    assert np.all(counts[status == 1].sum(-1) >= 1)  # every network has at least one slow or fixed point
    assert list(np.asarray(group["snapshot"])) == [0, 20, 40]
    assert np.asarray(group["snapshot_point_counts"]).shape == (2, 2, 1, 3, len(LABELS))
    for stem in ("dynamics_points", "mechanism_switches"):
        assert (out / f"{stem}.png").stat().st_size > 5000 and (out / f"{stem}.pdf").exists()
    table = summary["dynamics"]["by_class"]
    assert sum(row["networks"] for row in table.values()) == int(np.sum(status == 1))


def test_the_last_snapshot_gives_the_final_networks_index_and_points(analysed):
    # the snapshot at the final epoch holds the final parameters: the same probe gives the same index as
    # the classes analysis, and the finder the same points (whatever the networks are batched with)
    store, _ = analysed
    analysis = zarr.open_group(str(store / "tiny" / "analysis"), mode="r")
    final_index = np.asarray(analysis["classes"]["mechanism_index"])
    snap_index = np.asarray(analysis["dynamics"]["snapshot_mechanism_index"])[..., -1]
    known = np.isfinite(final_index)
    assert known.any()
    np.testing.assert_allclose(snap_index[known], final_index[known], rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(analysis["dynamics"]["snapshot_point_counts"])[..., -1, :],
                                  np.asarray(analysis["dynamics"]["point_counts"]))


def test_dynamics_is_opt_in(analysed, tmp_path):
    store, _ = analysed
    assert main(["analyze", str(store), "--out", str(tmp_path), "--n-boot", "0", "--only", "classes", "--quiet"]) == 0
    assert "dynamics" not in json.loads((tmp_path / "summary.json").read_text())["analyses"]


def test_the_points_figure_draws_the_mean_counts_of_each_class():
    table = {"SP": {"networks": 3, "mean_count": dict(zip(LABELS, (2.0, 1.0, 0.0, 0.0, 0.0)))},
             "LC": {"networks": 2, "mean_count": dict(zip(LABELS, (0.0, 0.0, 1.0, 0.0, 0.5)))}}
    fig = da.points_figure(table, "t")
    ax = fig.axes[0]
    heights = [[bar.get_height() for bar in container] for container in ax.containers]
    assert heights == [[2.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.5]]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SP (n=3)", "LC (n=2)"]


def test_inspect_draws_the_network_over_training_from_its_snapshots(analysed, tmp_path):
    from rnnsweep.analysis.inspect import inspect_cell

    store, _ = analysed
    group = zarr.open_group(str(store / "tiny"), mode="r")
    status = np.asarray(group["status"])
    ix = tuple(int(i) for i in np.argwhere(status == 1)[0])
    cell = {d: float(np.asarray(group[d])[i]) for d, i in zip(("seed", "lr", "delay_ms"), ix)}
    summary = inspect_cell(store, cell, tmp_path, progress=False)
    history = summary["history"]
    assert history["epoch"] == [0, 20, 40]
    stored = np.asarray(zarr.open_group(str(store / "tiny" / "analysis" / "dynamics"), mode="r")[
        "snapshot_point_counts"])[ix]
    np.testing.assert_array_equal(np.array(history["counts"]), stored)  # the same finder, one network or many
    assert history["switch"] in ("none", "SP->LC", "LC->SP")
    assert (tmp_path / (summary["figures"][0].split("/")[-1])).stat().st_size > 20000


def test_dynamics_runs_without_the_classes_and_reports_the_memory_states(tmp_path):
    # the flip-flop records no reliability curve: no classes, so the counts form one group, and its
    # memory outputs (the 8 sign patterns) get a table of their own. Two epochs of a 4-neuron network:
    # the pipeline, not the learning (tests/test_flipflop.py checks the counting on known points)
    sweep = tmp_path / "ff.toml"
    sweep.write_text('name = "ff"\nroot_seed = 0\n[model]\nfamily = "leaky_rnn"\nn_neurons = 4\nreadout = "linear"\n'
                     '[task]\nname = "three_bit_flip_flop"\ntrial_ms = 50.0\nn_trials = 8\n'
                     '[train]\noptimizer = "adam"\nepochs = "2"\nchunk_epochs = 2\n[grid]\nseed = 2\nlr = [0.01]\n')
    store = tmp_path / "ff.zarr"
    assert main(["run", str(sweep), "--store", str(store), "--quiet"]) == 0
    out = tmp_path / "report"
    summary = analyze([store], out, only=["dynamics"], progress=False, log=lambda s: None)
    assert summary["analyses"] == ["dynamics"] and "classes" in summary["skipped"]
    assert list(summary["dynamics"]["by_class"]) == ["all"]
    memory = summary["dynamics"]["memory"]
    assert len(memory) == 2 and all(0 <= row["memory_covered"] <= 8 for row in memory)
    assert all(row["stable_on_target"] <= row["stable"] and 0 <= row["accuracy"] <= 1 for row in memory)
    report = (out / "report.md").read_text()
    assert "### Memory states" in report and "| all | 2 |" in report and "Mechanism over training" not in report
    group = zarr.open_group(str(store / "ff" / "analysis" / "dynamics"), mode="r")
    np.testing.assert_array_equal(np.asarray(group["memory_covered"]), [[m["memory_covered"]] for m in memory])
