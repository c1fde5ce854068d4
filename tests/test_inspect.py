"""`rnnsweep inspect`: the sheet of one network, what each panel shows, and the CLI's errors."""

import dataclasses
import json

import numpy as np
import pytest

from conftest import tiny_sweep_text
from rnnsweep import schema, store
from rnnsweep.analysis import dynamics
from rnnsweep.analysis.classify import CLASS_NAMES, LC, PENDING
from rnnsweep.analysis.inspect import PROBE_TRIALS, find_cell, probe_cell, sheet_figure
from rnnsweep.analysis.mechanism import MechanismConfig
from rnnsweep.analysis.study import Source
from rnnsweep.cli import main


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_sheet_of_a_trained_network(tmp_path, write_sweep, capsys):
    # one trained store for both halves of the test (the training is most of its time): one seed, lr 0.4
    # and 0.1, delays 0 and 20 ms, half of it trained (part 0 of 2: lr 0.4, one block of 2 cells of 10 steps,
    # chunks of 10 epochs: the programs of tests/test_snapshots.py's sweep, compiled once a session)
    sweep = write_sweep(tiny_sweep_text(n_neurons=8, epochs="10", chunk_epochs=10, n_seeds=1, block_size=2))
    path = tmp_path / "tiny.zarr"
    assert main(["init", str(path), str(sweep)]) == 0
    assert main(["run", str(sweep), "--store", str(path), "--part", "0/2", "--quiet"]) == 0
    capsys.readouterr()
    source = Source.open(path)
    trained = [tuple(ix) for ix in np.argwhere(source.status == schema.Status.DONE)]
    assert len(trained) == 2
    sheet_and_summary(path, source, trained[0], tmp_path / "sheet", capsys)
    panels_show_the_cells_data(source, trained[1])


def sheet_and_summary(path, source, ix, out, capsys):
    """The command writes the sheet and the summary, with the class and index settings of the store's
    classes analysis."""
    cell = {d: source.coords[d][i].item() for d, i in zip(source.dims, ix)}
    text = ",".join(f"{d}={v:g}" for d, v in cell.items())
    assert find_cell(source, cell) == ix
    # a classes analysis in the store (as `rnnsweep analyze` writes it): its class and index settings are used
    codes = np.full(source.status.shape, PENDING, np.int8)
    codes[ix] = LC
    robust = MechanismConfig(method="robust")
    store.write_analysis(path, source.name, "classes", {"classes": (codes, source.dims)},
                         {"class_names": list(CLASS_NAMES), "mechanism": dataclasses.asdict(robust)})
    code, printed, err = cli(capsys, "inspect", path, "--cell", text, "--out", out, "--quiet")
    assert code == 0, err
    stem = "cell_" + text.replace(",", "_")
    png = out / f"{stem}.png"
    assert printed.strip() == str(png) and err == ""
    assert png.stat().st_size > 20000 and (out / f"{stem}.pdf").stat().st_size > 5000
    summary = json.loads((out / f"{stem}.json").read_text())
    assert summary["cell"] == cell and summary["index"] == list(ix) and summary["sweep"] == "tiny"
    assert summary["status"] == "done" and summary["epochs_run"] == 10
    assert summary["class"] == "LC" and summary["mechanism"]["method"] == "robust"
    assert 0 <= summary["mechanism_index"] <= 1
    assert set(summary["point_counts"]) == set(dynamics.LABELS) and sum(summary["point_counts"].values()) >= 1
    assert summary["slowest_q"] < dynamics.FinderConfig().slow_q and summary["manifold_dim"] >= 0
    assert summary["figures"] == [str(png), str(png.with_suffix(".pdf"))]


def panels_show_the_cells_data(source, ix):
    """Each panel of the sheet shows the network's data: its curves, its probe, the finder's points."""
    sheet = probe_cell(source, ix)
    fig = sheet_figure(sheet)
    panels = {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}
    assert set(panels) == {"curves", "metrics", "outputs", "raster", "pca", "spectra"}
    for ax in panels.values():
        assert ax.get_title()

    epochs_run = int(source.read(schema.EPOCHS_RUN, ix))
    lines = {line.get_label(): line for line in panels["curves"].get_lines()}
    np.testing.assert_array_equal(lines["loss"].get_ydata(), source.read(schema.LOSS, ix)[:epochs_run])
    np.testing.assert_array_equal(lines["loss"].get_xdata(), np.arange(epochs_run))
    np.testing.assert_array_equal(lines["gradient norm"].get_ydata(), source.read(schema.GRAD_NORM, ix)[:epochs_run])
    assert panels["curves"].get_yscale() == "log"
    metrics = {line.get_label(): line.get_ydata() for line in panels["metrics"].get_lines()}
    assert list(metrics) == ["accuracy", "reliability"]
    np.testing.assert_array_equal(metrics["accuracy"], source.read("accuracy", ix)[:epochs_run])

    # one line per condition and output over the whole probe, the trial's end marked (dotted)
    n = int(source.task.n_steps(source.timing(ix)))
    traces = [line for line in panels["outputs"].get_lines() if line.get_linestyle() != ":"]
    ends = [line.get_xdata()[0] for line in panels["outputs"].get_lines() if line.get_linestyle() == ":"]
    assert len(traces) == len(source.task.conditions()) * source.task.n_outputs == 4
    assert all(len(line.get_ydata()) == PROBE_TRIALS * n for line in traces)
    assert ends == [n * source.task.dt_ms]
    assert panels["raster"].get_images()[0].get_array().shape == (8, PROBE_TRIALS * n)

    # the finder, run on its own for this network, gives the points drawn
    found = dynamics.network_points(source.model, source.task, source.params([ix]), source.timing(ix)).network(0)
    labels = [p["label"] for p in found]
    assert found
    legend = [t.get_text() for t in panels["pca"].get_legend().get_texts()]
    assert set(labels) <= set(legend) and {"cue A", "cue B"} <= set(legend)
    markers = {c.get_label(): len(c.get_offsets()) for c in panels["pca"].collections}
    assert markers == {label: labels.count(label) for label in set(labels)}
    drawn = {c.get_label().split(" ")[0]: np.asarray(c.get_offsets()) for c in panels["spectra"].collections}
    assert set(drawn) == set(labels)
    for label, offsets in drawn.items():
        ev = np.concatenate([p["eigenvalues"] for p in found if p["label"] == label])
        np.testing.assert_allclose(offsets, np.stack([ev.real, ev.imag], 1), rtol=1e-12, atol=1e-12)
    assert any(line.get_xdata()[0] == 0 for line in panels["spectra"].get_lines())  # the Re = 0 line

    # the over-training row, when given its data
    history = {"epoch": np.array([0, 4, 8]), "mechanism_index": np.array([0.2, 0.5, 0.9]),
               "counts": np.arange(15).reshape(3, 5)}
    panels = {ax.get_gid(): ax for ax in sheet_figure(sheet, history).axes if ax.get_gid()}
    assert {"history_index", "history_counts"} <= set(panels)
    np.testing.assert_array_equal(panels["history_index"].get_lines()[0].get_ydata(), [0.2, 0.5, 0.9])
    counts = {line.get_label(): line.get_ydata() for line in panels["history_counts"].get_lines()}
    assert list(counts) == list(dynamics.LABELS)
    np.testing.assert_array_equal(counts["saddle"], [1, 6, 11])
    with pytest.raises(ValueError, match="counts"):
        sheet_figure(sheet, dict(history, counts=np.zeros((3, 2))))


def test_cli_errors_name_what_is_wrong(tmp_path, write_sweep, capsys):
    # a store made by `init` alone: every cell pending (the errors come before any computation)
    path = tmp_path / "untrained.zarr"
    assert main(["init", str(path), str(write_sweep(tiny_sweep_text(n_seeds=1)))]) == 0
    capsys.readouterr()
    for args, message in [
        ((path, "--cell", "seed=0,lr=0.3,delay_ms=20"), "lr=0.3 is not on the grid; the nearest lr values are 0.4, 0.1"),
        ((path, "--cell", "seed=0,lr=0.1,delay_ms=20"), "seed=0,lr=0.1,delay_ms=20 is pending: it has not been trained"),
        ((path, "--cell", "seed=0,lr=0.4"), "missing delay_ms"),
        ((path, "--cell", "seed=0,lr=0.4,delay_ms=20,tau_ms=10"), "the grid has no axis tau_ms"),
        ((path, "--cell", "seed=0,lr"), "expected axis=value pairs"),
        ((path, "--cell", "seed=0,seed=1"), "seed given more than once"),
        ((tmp_path / "missing.zarr", "--cell", "seed=0,lr=0.4,delay_ms=20"), "not an rnnsweep store"),
    ]:
        code, out, err = cli(capsys, "inspect", *args, "--out", tmp_path / "out", "--quiet")
        assert code == 2 and out == "", args
        assert err.startswith("rnnsweep: error: ") and message in err, err
    assert not (tmp_path / "out").exists()
