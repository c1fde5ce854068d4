"""The 3-bit flip-flop's memory states through the fixed-point finder: a hand-built network whose
fixed points are known (three uncoupled self-exciting units, ``W_rec = w I`` with ``w > 1``: the 8
corners are stable, the 12 points with one unit at 0 and the 6 with two units at 0 are saddles, the
origin is unstable), probed as the dynamics analysis probes a trained network
(:meth:`~rnnsweep.tasks.three_bit_flip_flop.ThreeBitFlipFlop.finder_probes`), and the memory outputs
its stable points read (:func:`rnnsweep.analysis.dynamics.memory_coverage`)."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from rnnsweep.analysis import dynamics as dyn
from rnnsweep.models.leaky_rnn import LeakyRNN
from rnnsweep.tasks.three_bit_flip_flop import ThreeBitFlipFlop, held_signs, octant_probes, octants

W = 2.0
R_STAR = 0.9575040240772919  # r = tanh(2 r): the stable rate of a unit with self-excitation 2
TASK = ThreeBitFlipFlop(dt_ms=5.0, trial_ms=100.0)  # 20 steps
TIMING = {**TASK.timing({}), **TASK.cell_values({})}  # as Source.timing gives it: step counts and pulse_prob


def flip_flop_network(w=(W, W, W), out_sign=(1.0, 1.0, 1.0)):
    """Unit ``c`` holds bit ``c``: self-excitation ``w[c]``, input weight 10 from channel ``c`` (a pulse
    flips it), readout ``out_sign[c] r_c / r*`` (+-1 at the corners), no biases."""
    model = LeakyRNN(n_neurons=3, n_inputs=3, n_outputs=3, dt_ms=5.0, tau_ms=10.0, readout="linear")
    params = {k: np.zeros(v.shape) for k, v in model.init(jax.random.PRNGKey(0)).items()}
    params["W_rec"] = np.diag(w)
    params["W_in"] = 10.0 * np.eye(3)
    params["W_out"] = np.diag(out_sign) / R_STAR
    return model, {k: v[None] for k, v in params.items()}


def expected_points(w=(W, W, W)):
    """Each fixed point of the uncoupled network and its label: per unit 0 (unstable where w > 1,
    stable below) and +-r* (stable) where w > 1."""
    per_unit = [(-R_STAR, 0.0, R_STAR) if wc > 1 else (0.0,) for wc in w]
    expected = {}
    for point in itertools.product(*per_unit):
        unstable_dirs = sum(v == 0.0 and wc > 1 for v, wc in zip(point, w))
        expected[point] = "stable" if unstable_dirs == 0 else ("unstable" if unstable_dirs == 3 else "saddle")
    return expected


def test_the_probes_visit_every_memory_state_the_states_before_a_first_pulse_and_the_flips():
    x = np.asarray(octant_probes(20))
    assert x.shape == (20, 16, 3) and set(np.unique(x)) == {-1.0, 0.0, 1.0}
    held = np.asarray(held_signs(octant_probes(20)))  # the outputs the task asks for: (20, 16, 3)
    build, flip = held[:, :8], held[:, 8:]
    # build-up trials: nothing held, then channel 0, 0 and 1, then all three (pulses at steps 5, 10, 15)
    np.testing.assert_array_equal(build[5], 0)
    np.testing.assert_array_equal(build[6], octants() * [1, 0, 0])
    np.testing.assert_array_equal(build[11], octants() * [1, 1, 0])
    np.testing.assert_array_equal(build[-1], octants())
    # flip trials: start in their octant, cross to neighbours one bit at a time, end in the opposite one
    np.testing.assert_array_equal(flip[3], octants())
    np.testing.assert_array_equal(flip[-1], -octants())
    changes = np.abs(np.diff(flip[3:], axis=0)).sum(-1)  # bits that flip between steps
    assert set(np.unique(changes)) == {0.0, 2.0} and (changes == 2).sum() == 24
    patterns = {tuple(h) for h in flip[3:].reshape(-1, 3)}
    assert patterns == {tuple(o) for o in octants()}
    assert len({tuple(o) for o in octants()}) == 8 and set(np.unique(octants())) == {-1.0, 1.0}


def test_the_finder_counts_8_stable_points_from_the_flip_flop_probes():
    model, params = flip_flop_network()
    pts = dyn.network_points(model, TASK, params, TIMING, dyn.FinderConfig(batch_size=1))
    stable = [p["x"] for p in pts.network(0) if p["label"] == "stable"]
    assert len(stable) == 8
    corners = {tuple(np.sign(x)) for x in stable}
    assert corners == {tuple(o) for o in octants()}
    np.testing.assert_allclose(np.abs(stable), R_STAR, atol=1e-7)


@pytest.fixture(scope="module")
def all_points():
    """Every fixed point of the hand-built network: many jittered starts (the probes' visited states
    lie near the corners and the flips; wide jitter reaches the saddles' neighbourhoods too)."""
    model, params = flip_flop_network()
    cfg = dyn.FinderConfig(n_initial=512, jitter=0.5, batch_size=1)
    return model, params, dyn.network_points(model, TASK, params, TIMING, cfg)


def test_the_finder_counts_8_stable_points_18_saddles_and_the_unstable_origin(all_points):
    model, params, pts = all_points
    expected = expected_points()
    assert len(expected) == 27
    for p in pts.network(0):
        key = min(expected, key=lambda e: np.linalg.norm(np.array(e) - p["x"]))
        np.testing.assert_allclose(p["x"], key, atol=1e-7)
        assert p["label"] == expected.pop(key)
    assert not expected  # every point found once
    assert list(pts.counts()[0]) == [8, 18, 1, 0, 0]


def test_the_stable_points_read_all_8_sign_patterns(all_points):
    model, params, pts = all_points
    out = dyn.point_outputs(model, params, pts.x)
    cover = dyn.memory_coverage(out, pts.labels, TASK.memory_outputs())
    assert cover.n_covered[0] == 8 and cover.on_target[0] == 8 and cover.covered.all()
    assert cover.worst_error[0] < 1e-6
    stable = pts.labels[0] == dyn.STABLE
    np.testing.assert_allclose(out[0][stable], octants()[cover.nearest[0][stable]], atol=1e-6)
    assert (cover.nearest[0][~stable] == -1).all() and np.isnan(cover.error[0][~stable]).all()
    # the saddles read 0 on a channel: no memory output, and they do not count
    assert np.abs(out[0][pts.labels[0] == dyn.SADDLE]).min(-1).max() < 1e-6


def test_a_readout_with_flipped_signs_still_covers_every_octant():
    model, params = flip_flop_network(out_sign=(-1.0, 1.0, -1.0))
    pts = dyn.network_points(model, TASK, params, TIMING, dyn.FinderConfig(batch_size=1))
    cover = dyn.memory_coverage(dyn.point_outputs(model, params, pts.x), pts.labels, TASK.memory_outputs())
    assert cover.n_covered[0] == 8


def test_a_network_that_holds_two_bits_has_4_stable_points_and_covers_no_octant():
    # unit 2 leaks (w < 1): its only fixed point is 0, where the readout of bit 2 is 0, not +-1
    w = (W, W, 0.5)
    model, params = flip_flop_network(w)
    pts = dyn.network_points(model, TASK, params, TIMING, dyn.FinderConfig(n_initial=512, jitter=0.5, batch_size=1))
    expected = expected_points(w)
    # the corners of units 0 and 1 are stable; the 4 points with one of them at 0 and the origin (now one
    # stable direction) are saddles
    assert sorted(expected.values()) == ["saddle"] * 5 + ["stable"] * 4
    assert list(pts.counts()[0]) == [4, 5, 0, 0, 0]
    cover = dyn.memory_coverage(dyn.point_outputs(model, params, pts.x), pts.labels, TASK.memory_outputs())
    assert cover.n_covered[0] == 0 and cover.on_target[0] == 0
    stable = pts.labels[0] == dyn.STABLE
    np.testing.assert_allclose(cover.error[0][stable], 1.0, atol=1e-6)  # bit 2 reads 0: 1 from +-1
    assert np.isnan(cover.worst_error[0])  # no stable point on target
    # with a looser tolerance the 4 stable points cover 4 distinct octants (their bit-2 read is 0)
    assert dyn.memory_coverage(dyn.point_outputs(model, params, pts.x), pts.labels, TASK.memory_outputs(),
                               tol=1.5).n_covered[0] == 4


def test_the_finder_probes_see_the_cells_pulse_probability():
    # the starts' compiled program is keyed by the cell's timing: its float cell values (pulse_prob)
    # must reach the task as they are (an int() cast once made them 0: probes without a single pulse)
    seen = []

    class Recording(ThreeBitFlipFlop):
        def finder_probes(self, timing, key, dtype=np.float32):
            seen.append(timing["pulse_prob"])
            return super().finder_probes(timing, key, dtype)

    task = Recording(dt_ms=5.0, trial_ms=100.0, pulse_prob=0.05)
    model, params = flip_flop_network()
    timing = {**task.timing({}), **task.cell_values({})}
    starts = dyn.compiled_starts(model, task, timing, dyn.FinderConfig(n_initial=8))(params)
    assert starts.shape == (1, 8, 3) and seen == [0.05]
