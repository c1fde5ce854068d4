"""Toy models and their critical learning rates (paper-spec sections 1 and 2, docs/theory.md)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, run_cli
from rnnsweep.cli import main
from rnnsweep.models.toy_lc import CycleLC
from rnnsweep.models.toy_sp import GhostSP
from rnnsweep.schedule import cell_hypers
from rnnsweep.sweep import load_sweep
from rnnsweep.analysis.theory import (CASES, _stuck_fn, lc_critical_lr, measure_cases, measure_critical_lr,
                             phase_diagram, sp_critical_lr)


@pytest.mark.parametrize("T", [50.0, 100.0, 200.0])
def test_sp_numerical_critical_rate_matches_the_closed_form(T):
    eta_c = 3 * math.pi**4 / (32 * T**5)
    assert sp_critical_lr(T) == pytest.approx(eta_c, rel=1e-12)
    measured = measure_critical_lr(GhostSP(), T)
    assert measured == pytest.approx(eta_c, rel=0.02)
    with jax.enable_x64(True):
        stuck = _stuck_fn(GhostSP(), T, T, 1 + 1e-6, 3000)(jnp.array([0.99 * eta_c, 1.01 * eta_c]))
    assert list(np.asarray(stuck)) == [False, True]  # 0.99 eta_c keeps learning, 1.01 gets stuck


def test_sp_threshold_from_further_away_is_within_a_few_percent():
    T = 100.0
    measured = measure_critical_lr(GhostSP(), T, init_ratio=1.5)
    assert 1.0 <= measured / sp_critical_lr(T) <= 1.05


def test_sp_analytic_loss_shape():
    m, T = GhostSP(), 100.0
    r_star, r0 = math.pi**2 / (4 * T**2), math.pi**2 / (16 * T**2)
    with jax.enable_x64(True):
        loss = lambda r: float(m.analytic_loss(jnp.float64(r), T, T))
        assert loss(r_star) == pytest.approx(0.0, abs=1e-9)
        assert loss(0.9 * r0) == T and loss(0.5 * r0) == T  # flat no-learning zone
        assert loss(4 * r_star) == pytest.approx(T - T / 2)
        # The finite-confidence numerical loss approaches the analytic one at high confidence.
        num = GhostSP(loss="numeric", confidence=50.0, euler_dt=0.01)
        for ratio in (0.6, 1.3, 3.0):
            r = ratio * r_star
            got = float(num.numeric_loss(jnp.float64(r), T, T, int(2 * T / 0.01)))
            # crossing x* = 10 instead of infinity shifts the switch by about 1/x* = 0.1
            assert got == pytest.approx(loss(r), abs=0.5)


@pytest.mark.parametrize("T_d,T_r", [(100.0, 10.0), (100.0, 100.0), (37.0, 5.0)])
def test_lc_closed_form_equals_numerical_integration(T_d, T_r):
    m = CycleLC()
    n = 400_000
    h = (T_d + T_r) / n
    t = (np.arange(n) + 0.5) * h
    with jax.enable_x64(True):
        for r in np.r_[np.linspace(-0.03, 0.03, 41), 1 / (2 * T_d) * np.array([0.5, 0.9, 1.0, 1.1, 2.0])]:
            out = (np.sin(2 * np.pi * r * t) < 0).astype(float)
            integrated = out[t < T_d].sum() * h / T_d + 1 - out[t >= T_d].sum() * h / T_r
            closed = float(m.analytic_loss(jnp.float64(r), T_d, T_r))
            assert closed == pytest.approx(integrated, abs=2e-4), r
            # and the finite-confidence numeric loss agrees at high confidence
            num = float(CycleLC(loss="numeric", confidence=1e4, euler_dt=h * 10).numeric_loss(
                jnp.float64(r), T_d, T_r, n // 10))
            assert num == pytest.approx(integrated, abs=5e-3)


def test_lc_flat_zone_and_optimum():
    m, T_d, T_r = CycleLC(), 100.0, 10.0
    with jax.enable_x64(True):
        for r in (0.0, 0.9 / (2 * (T_d + T_r)), -0.9 / (2 * (T_d + T_r))):
            assert float(m.analytic_loss(jnp.float64(r), T_d, T_r)) == pytest.approx(1.0)
        assert float(m.analytic_loss(jnp.float64(1 / (2 * T_d)), T_d, T_r)) == pytest.approx(0.0, abs=1e-12)
    assert lc_critical_lr(100.0, 100.0) == pytest.approx(1 / (24 * 100.0**2))


def test_fitted_exponents_match_theory():
    for case in measure_cases((50.0, 100.0, 200.0, 400.0)):
        assert abs(case.law.beta - case.expected_beta) < 0.05, case.label
        np.testing.assert_allclose(case.measured, case.closed_form, rtol=0.02)
    assert [c[3] for c in CASES] == [5.0, 4.0, 3.0, 2.0]


def test_theory_phase_diagram_has_three_phases():
    fig = phase_diagram()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"SP and LC learnable", "LC only", "nothing learned"} <= set(labels)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # below the SP curve both mechanisms, between the curves LC only: SP curve under the LC curve
    t = np.geomspace(20, 1000, 50)
    assert np.all(sp_critical_lr(t, t, normalize=True) < lc_critical_lr(t, t))


def test_toy_sweeps_are_ordinary_sweep_files():
    sp = load_sweep(ROOT / "sweeps" / "toy_sp.toml")
    lc = load_sweep(ROOT / "sweeps" / "toy_lc.toml")
    assert sp.model.family == "toy_sp" and sp.train.dtype == "float64" and sp.train.momentum == 0
    assert list(sp.axes) == ["seed", "lr", "delay_ms", "init_r_ratio"]
    cell = sp.cells()[5]
    h = cell_hypers(sp, [cell])
    t_d = cell.coords["delay_ms"]
    assert h.model_args["init_r"][0] == pytest.approx(cell.coords["init_r_ratio"] * math.pi**2 / (4 * t_d**2))
    assert lc.model.family == "toy_lc" and not lc.model.response_equals_delay


def test_toy_sweep_runs_and_analyze_recovers_the_exponent(tmp_path, write_sweep):
    text = (ROOT / "sweeps" / "toy_sp.toml").read_text()
    text = text.replace("lr = { logspace = [-10.4, -7.8, 14] }", "lr = { logspace = [-10.4, -7.8, 6] }")
    text = text.replace("delay_ms = { linspace = [50, 200, 31] }", "delay_ms = { linspace = [50, 200, 16] }")
    text = text.replace("init_r_ratio = [1.000001, 1.5, 3.0]", "init_r_ratio = [1.000001]")
    text = text.replace('epochs = "2000"', 'epochs = "300"').replace("chunk_epochs = 500", "chunk_epochs = 300")
    sweep = write_sweep(text)
    store = tmp_path / "toy.zarr"
    assert main(["run", str(sweep), "--store", str(store), "--quiet"]) == 0  # in process; analyze and theory for real
    out = tmp_path / "an"
    proc = run_cli("analyze", store, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    import json
    summary = json.loads((out / "summary.json").read_text())
    assert summary["condition"] == "toy_sp_raw"
    assert summary["class_counts"]["LC"] == 0 and summary["class_counts"]["SP"] > 0
    beta = summary["fits"]["laws"]["learning_boundary"]["beta"]
    assert abs(beta - 5.0) < 0.4  # a coarse grid: the sweep-level fit is within a few tenths
    theory = run_cli("theory", "--out", tmp_path / "theory", "--overlay", out / "summary.json")
    assert theory.returncode == 0, theory.stderr
    assert (tmp_path / "theory" / "theory_phase_diagram.png").stat().st_size > 5000
    assert "beta = 5.0000" in theory.stdout
