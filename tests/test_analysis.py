"""Analysis: stability rule, mechanism index, planted scaling laws, figures, `rnnsweep analyze`."""

import json

import matplotlib
import numpy as np
import pytest

from conftest import tiny_sweep_text
from rnnsweep.analysis import FitConfig, Thresholds, fit_study, mechanism_index_from_rates, stability
from rnnsweep.analysis.classes import Classified, combine
from rnnsweep.analysis.classify import LC, NO_LEARNING, SP, STOPPED, UNSTABLE, learning_classes, split_mechanism
from rnnsweep.analysis.fitting import critical_delay, critical_lrs_no_memory, logistic_decreasing, power_law
from rnnsweep.analysis import plots


# --- stability and classes --------------------------------------------------------------------
def curves(*segments):
    """Concatenate (length, acc, rel) segments into one cell's curves."""
    acc = np.concatenate([np.full(n, a) for n, a, _ in segments])
    rel = np.concatenate([np.full(n, r) for n, _, r in segments])
    return acc[None], rel[None]


def test_never_above_threshold_is_stable_and_not_learned():
    acc, rel = curves((100, 0.79, 0.95))  # acc never exceeds 0.8
    assert stability(acc, rel)[0]
    learned, cls = learning_classes(acc, rel, np.array([100]), np.array([1]))
    assert not learned[0] and cls[0] == NO_LEARNING


def test_learning_then_late_collapse_is_unstable():
    acc, rel = curves((20, 0.5, 0.5), (30, 0.95, 0.9), (50, 0.5, 0.5))
    # after the first learned epoch: bad = 50 + 50 = 100, good = 29 * 2 = 58; ratio > 0.1
    assert not stability(acc, rel)[0]
    _, cls = learning_classes(acc, rel, np.array([100]), np.array([1]))
    assert cls[0] == UNSTABLE


@pytest.mark.parametrize("dips,stable", [(10, True), (11, False)])
def test_dips_after_learning_count_against_the_ratio(dips, stable):
    # 10 learning epochs, first learned epoch, then 59 later epochs of which `dips` have acc < 0.6.
    # From the first learned epoch on (inclusive): bad = dips; good = (60 - dips) + 60 (rel stays
    # high). Stable iff bad / good < 0.1.
    acc, rel = curves((10, 0.5, 0.5), (1, 0.9, 0.9), (59 - dips, 0.9, 0.9), (dips, 0.5, 0.9))
    assert stability(acc, rel)[0] == stable
    assert (dips / ((60 - dips) + 60) < 0.1) == stable


def test_learned_uses_the_last_ten_percent_of_the_cells_own_epochs():
    acc, rel = curves((90, 0.5, 0.5), (10, 0.9, 0.9))
    acc = np.concatenate([acc, np.full((1, 20), np.nan)], axis=1)  # padded past the cell's end
    rel = np.concatenate([rel, np.full((1, 20), np.nan)], axis=1)
    learned, cls = learning_classes(acc, rel, np.array([100]), np.array([1]))
    assert learned[0] and cls[0] == SP
    learned, _ = learning_classes(acc, rel, np.array([95]), np.array([1]))  # last 9 epochs: 4 of 0.9
    assert not learned[0]
    _, cls = learning_classes(acc, rel, np.array([100]), np.array([2]))  # diverged
    assert cls[0] == STOPPED


def test_mechanism_threshold_splits_learned_cells():
    classes = np.array([SP, SP, NO_LEARNING], np.int8)
    out = split_mechanism(classes, np.array([0.2, 0.7, 0.1]), Thresholds())
    assert list(out) == [LC, SP, NO_LEARNING]


# --- mechanism index on hand-built trajectories ------------------------------------------------
def embed(traj, n=20, seed=0):
    return np.tanh(traj @ np.random.default_rng(seed).standard_normal((traj.shape[1], n)))


@pytest.mark.parametrize("period", [20, 50, 100])
def test_limit_cycle_gets_a_low_index(period):
    t = np.arange(400)
    cycle = np.stack([np.cos(2 * np.pi * t / period), np.sin(2 * np.pi * t / period)], 1)
    assert float(mechanism_index_from_rates(embed(cycle))) < 0.1


@pytest.mark.parametrize("tau", [10, 50, 150])
def test_slow_passage_to_a_fixed_point_gets_a_high_index(tau):
    t = np.arange(400)[:, None]
    target, start = np.array([1.0, -0.5, 0.3]), np.array([-0.5, 0.8, 0.0])
    traj = target + (start - target) * np.exp(-t / tau)
    traj[:, 2] += 0.5 * np.exp(-t[:, 0] / (3 * tau)) * np.sin(t[:, 0] / tau)
    assert float(mechanism_index_from_rates(embed(traj))) > 0.7


# --- planted scaling laws ----------------------------------------------------------------------
def planted_study(beta=2.7, n_seeds=60, seed=1, k=0.02):
    rng = np.random.default_rng(seed)
    lrs = np.logspace(-1, -3, 12)
    delays = np.arange(0, 401, 20.0)
    tc = (0.1 * 100**beta / lrs) ** (1 / beta)  # lr = A T_c^-beta with T_c(0.1) = 100 ms
    p_fail = np.where(delays < tc[:, None], 0, 1 - np.exp(-k * (delays - tc[:, None])))
    # SP below a boundary at half the critical delay, LC between, failed above.
    t_sp = tc / 2
    learned_cls = np.where(delays < t_sp[:, None], SP, LC)
    draws = rng.random((n_seeds,) + p_fail.shape)
    classes = np.where(draws < p_fail, NO_LEARNING, learned_cls).astype(np.int8)
    dims = ["seed", "lr", "delay_ms"]
    shape = classes.shape
    result = Classified("planted", dims, {"seed": np.arange(n_seeds), "lr": lrs, "delay_ms": delays},
                        np.ones(shape), classes, np.full(shape, np.nan), np.full(shape, np.nan))
    return result, tc


def test_planted_critical_delay_is_recovered():
    delays = np.arange(0, 401, 20.0)
    failed = np.where(delays < 137.0, 0, 1 - np.exp(-0.03 * (delays - 137.0)))
    assert critical_delay(delays, failed) == pytest.approx(137.0, abs=1.0)
    assert np.isnan(critical_delay(delays, failed * 0.05))  # max failed fraction < 0.1: skipped


def test_planted_power_law_is_recovered_with_its_interval():
    result, tc = planted_study(beta=2.7)
    fits = fit_study(result, FitConfig(n_boot=100))
    law = fits.laws["learning_boundary"]
    lo, hi = law.ci95
    assert lo <= 2.7 <= hi and hi - lo < 0.5
    assert abs(law.beta - 2.7) < 3 * law.beta_se + 0.05 and law.r2 > 0.98
    inside = np.isfinite(fits.points["critical_delay"])
    np.testing.assert_allclose(fits.points["critical_delay"][inside], tc[inside], rtol=0.1)
    # The SP boundary (planted at T_c / 2, the same exponent) is found by the logistic fit.
    sp = fits.laws["sp_boundary"]
    assert sp is not None and abs(sp.beta - 2.7) < 0.3


def test_power_law_exact_and_bad_input():
    x = np.array([50.0, 100, 200, 400])
    law = power_law(x, 3.0 * x**-4.05)
    assert law.beta == pytest.approx(4.05) and law.r2 == pytest.approx(1.0) and law.beta_se < 1e-6
    assert power_law(np.array([1.0, np.nan]), np.array([1.0, 2.0])) is None
    # every boundary at the same delay (a small grid): no slope to fit, not a crash
    assert power_law(np.array([50.0, 50.0, 50.0]), np.array([0.5, 0.2, 0.1])) is None


def test_no_memory_critical_lr_from_a_logistic_in_log_lr():
    # the reference's form 1/(1 + exp(k (x - x0))) in x = ln(lr), fitted from p0 = (-5, -10): it
    # recovers critical rates inside the grid, as in the paper's data
    lrs = np.logspace(0, -3, 20)
    windows = np.arange(20, 401, 20.0)
    lr_c = 0.05 * (windows / 20) ** -0.38
    failed = 1 / (1 + np.exp(-4 * (np.log(lrs)[:, None] - np.log(lr_c))))
    got = critical_lrs_no_memory(lrs, windows, failed)
    np.testing.assert_allclose(got, lr_c, rtol=1e-3)
    assert power_law(windows, got).beta == pytest.approx(0.38, abs=1e-3)
    # the form has +k: k < 0 is a failed fraction rising with lr; p0 = (-5, -10) starts from that side
    assert logistic_decreasing(np.log(lr_c[0]), np.log(lr_c[0]), -4.0) == pytest.approx(0.5)
    assert logistic_decreasing(0.0, -3.0, -4.0) > 0.99
    # skip rule: a window whose largest failed fraction is below 0.1 gets no critical rate
    assert np.isnan(critical_lrs_no_memory(lrs, windows[:1], 0.09 * failed[:, :1])[0])
    assert np.isfinite(critical_lrs_no_memory(lrs, windows[:1], 0.11 * failed[:, :1] / failed[:, :1].max())[0])
    # the robust fit (grid of starts) also finds critical rates near the grid's edge
    edge = 0.5 * (windows / 20) ** -0.38
    failed = 1 / (1 + np.exp(-4 * (np.log(lrs)[:, None] - np.log(edge))))
    robust = critical_lrs_no_memory(lrs, windows, failed, FitConfig(method="robust"))
    np.testing.assert_allclose(robust, edge, rtol=1e-3)


def test_combine_joins_along_lr_sorted():
    a, _ = planted_study(n_seeds=4)
    b, _ = planted_study(n_seeds=4, seed=2)
    b.coords = dict(b.coords, lr=b.coords["lr"] * 3.3)
    both = combine([a, b])
    assert both.classes.shape == (4, 24, 21) and np.all(np.diff(both.coords["lr"]) < 0)
    i = int(np.flatnonzero(both.coords["lr"] == a.coords["lr"][3])[0])
    np.testing.assert_array_equal(both.classes[:, i], a.classes[:, 3])


# --- figures -----------------------------------------------------------------------------------
def test_figures_render_with_their_axes_and_labels(tmp_path):
    result, _ = planted_study(n_seeds=20)
    result.mechanism_index = np.where(result.classes == SP, 0.8, np.where(result.classes == LC, 0.05, np.nan))
    fig = plots.phase_diagram(result)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "delay (ms)" and ax.get_ylabel() == "learning rate"
    image = ax.get_images()[0].get_array()
    assert image.shape == (12, 21, 3)
    # bottom-left (smallest lr, delay 0): all SP -> pure green; top-right (largest lr, 400 ms): failed -> blue
    np.testing.assert_allclose(image[0, 0], [0, 1, 0])
    np.testing.assert_allclose(image[-1, -1], [0, 0, 1], atol=0.05)
    assert plots.save(fig, tmp_path, "phase")[0].endswith("phase.png") and (tmp_path / "phase.png").stat().st_size > 5000

    fig = plots.class_fractions(result)
    assert [a.get_title() for a in fig.axes] == ["SP fraction", "LC fraction", "failed fraction"]
    assert len(fig.axes[0].get_lines()) == 12

    fits = fit_study(result, FitConfig(n_boot=20))
    fig = plots.scaling_plot(fits, "planted")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(l.startswith("critical delay") for l in labels) and any("T^-4" in l for l in labels)
    assert any("95% bootstrap" in l for l in labels)

    fig = plots.index_histograms(result)
    assert fig.axes[0].get_xlabel().startswith("mechanism index")
    fig.canvas.draw()
    assert isinstance(fig.canvas, matplotlib.backends.backend_agg.FigureCanvasAgg)

    # one network's outputs and raster: a line per condition and output, the trial's end marked at
    # the same place in both panels (same width, shared time axis)
    rng = np.random.default_rng(0)
    fig = plots.cell_dynamics(rng.random((90, 2, 2)), rng.uniform(-1, 1, (90, 2, 7)), 30, 5.0, ["cue A", "cue B"], "t")
    top, raster = fig.axes[0], fig.axes[2]
    assert [t.get_text() for t in top.get_legend().get_texts()] == [
        "cue A, output 0", "cue A, output 1", "cue B, output 0", "cue B, output 1"]
    fig.canvas.draw()
    assert top.get_position().x0 == pytest.approx(raster.get_position().x0)
    assert top.get_position().x1 == pytest.approx(raster.get_position().x1)
    assert top.get_xlim() == raster.get_xlim()
    ends = [line.get_xdata()[0] for ax in (top, raster) for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert ends == [150.0, 150.0]
    assert raster.get_images()[0].get_array().shape == (7, 90)


# --- end to end --------------------------------------------------------------------------------
def test_analyze_cli_on_a_tiny_store(tmp_path, write_sweep, own_analyses):
    sweep = write_sweep(tiny_sweep_text(n_neurons=8, epochs="max(20, 4/lr)", chunk_epochs=20, lrs="[0.5, 0.2, 0.1]",
                                        delays="[0.0, 20.0, 60.0]", n_seeds=2, block_size=64))
    store = tmp_path / "t.zarr"
    from rnnsweep.cli import main

    assert main(["run", str(sweep), "--store", str(store), "--quiet"]) == 0
    out = tmp_path / "report"
    # in process too: `analyze` in a real subprocess is tests/test_theory.py's and tests/test_plugins.py's
    assert main(["analyze", str(store), "--out", str(out), "--n-boot", "20", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["coverage"] == 1.0 and summary["n_cells"] == 18
    assert sum(summary["class_counts"].values()) == 18
    for stem in ("phase_diagram", "class_fractions", "mechanism_index", "loss_by_class", "cell_dynamics"):
        assert (out / f"{stem}.png").stat().st_size > 5000 and (out / f"{stem}.pdf").exists()
    report = (out / "report.md").read_text()
    assert "Grid coverage: 100.0%" in report and "2.72 +- 0.07" in report  # paper values beside ours
    import zarr
    analysis = zarr.open_group(str(store / "tiny" / "analysis"), mode="r")
    # one subgroup per analysis
    assert sorted(name for name, _ in analysis.groups()) == ["classes", "learnability", "scaling", "search_phase"]
    assert analysis["classes"]["classes"].shape == (2, 3, 3)
    scaling_attrs = dict(analysis["scaling"].attrs)
    assert scaling_attrs["condition"] == "nopost"
    assert analysis["scaling"]["critical_delay"].shape == (3,)
    assert sorted(n for n, _ in analysis["classes"].arrays()) == [
        "classes", "classes_flipped_sign", "classes_robust_index", "delay_ms", "lr", "mechanism_index", "output_rms",
        "seed"]
    # Rerunning one analysis replaces its own subgroup and leaves the others alone (in process: faster;
    # without the sensitivity variants, whose arrays must then be gone).
    from rnnsweep.analysis import analyze
    from rnnsweep.analysis.classes import Classes

    analyze([store], out, only=["classes"], configured={"classes": Classes(sensitivity=False)}, progress=False,
            log=lambda s: None)
    analysis = zarr.open_group(str(store / "tiny" / "analysis"), mode="r")
    assert sorted(n for n, _ in analysis["classes"].arrays()) == [
        "classes", "delay_ms", "lr", "mechanism_index", "output_rms", "seed"]
    assert dict(analysis["scaling"].attrs)["created"] == scaling_attrs["created"]
    assert json.loads((out / "summary.json").read_text())["analyses"] == ["classes"]
    assert main(["analyze", str(tmp_path / "nope.zarr"), "--out", str(out)]) == 2  # the same CLI code, in process


def test_partly_finished_grid_counts_only_finished_cells():
    from rnnsweep.analysis.classify import PENDING
    from rnnsweep.analysis.classify import fraction_table

    result, _ = planted_study(n_seeds=4)
    result.classes[:2, 0, :] = PENDING  # half the seeds of the largest lr not trained yet
    result.classes[:, 1, 3] = PENDING  # one (lr, delay) pair not trained at all
    assert result.coverage() == pytest.approx(1 - (2 * 21 + 4) / result.classes.size)  # disjoint regions
    table = fraction_table(result, (NO_LEARNING,), "delay_ms")
    expected = np.mean(result.classes[2:, 0, :] == NO_LEARNING, axis=0)
    np.testing.assert_allclose(table[0], expected)
    assert np.isnan(table[1, 3]) and np.isfinite(table[1, 2])


@pytest.mark.parametrize("sweep,condition", [
    ("dcd_nopost_narrow", "nopost"), ("dcd_nopost_broad", "nopost"), ("dcd_post", "post"),
    ("dcd_long_tau", "long_tau"), ("no_memory", "no_memory"), ("demo", "nopost"), ("toy_sp", "toy_sp_raw"),
    ("toy_lc", "toy_lc_short_response")])
def test_each_paper_sweep_gets_its_declared_condition(sweep, condition):
    from conftest import ROOT
    from rnnsweep.analysis.conditions import condition_named, condition_of
    from rnnsweep.sweep import load_sweep

    s = load_sweep(ROOT / "sweeps" / f"{sweep}.toml")
    chosen = condition_of(s.model, s.task)
    assert chosen.name == condition
    # the presets of paper-spec section 1, declared once
    fit = {"post": FitConfig(min_max_failed=0.2, p0=(0.5, 0.1), sp_min_max=0.2, exclude_lrs=(0.0719686,)),
           "nopost": FitConfig(sp_rates=25), "long_tau": FitConfig(sp_rates=25)}.get(condition, FitConfig())
    if condition.startswith("toy"):
        fit = FitConfig(method="robust")  # the theory's check, not a reference figure
    assert chosen.fit == fit
    rules = Thresholds(stability=False, classify_loss_limited=True) if condition == "no_memory" else Thresholds()
    assert chosen.rules == rules
    assert chosen == condition_named(condition)
    with pytest.raises(ValueError, match="--condition: unknown condition 'postt'"):
        condition_named("postt")
