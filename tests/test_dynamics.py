"""The slow/fixed/ghost-point finder (rnnsweep.analysis.dynamics) on systems with known answers."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnsweep.analysis import dynamics as dyn
from rnnsweep.models.leaky_rnn import LeakyRNN
from rnnsweep.tasks import get_task

CFG = dyn.FinderConfig(n_initial=16, batch_size=4)


def linear_field(params, x):
    return params["A"] @ x + params["b"]


@pytest.mark.parametrize("eigs, label", [((-1.0, -0.3), "stable"), ((-1.0, 0.5), "saddle"), ((0.4, 0.7), "unstable")])
def test_a_2d_linear_system_has_one_point_at_its_solution_labelled_by_its_eigenvalues(eigs, label):
    rotation = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    a = rotation @ np.diag(eigs) @ rotation.T
    b = np.array([0.3, -0.2])
    x0 = np.stack(np.meshgrid(np.linspace(-2, 2, 4), np.linspace(-2, 2, 4)), -1).reshape(1, 16, 2)
    pts = dyn.points_of_field(linear_field, {"A": a[None], "b": b[None]}, x0, CFG)
    found = pts.network(0)
    assert len(found) == 1  # sixteen starts, one point: no duplicates
    np.testing.assert_allclose(found[0]["x"], -np.linalg.solve(a, b), atol=1e-6)
    assert found[0]["label"] == label
    np.testing.assert_allclose(np.sort(found[0]["eigenvalues"].real), np.sort(eigs), atol=1e-8)


def test_a_focus_is_labelled_by_the_real_part_of_its_complex_eigenvalues():
    a = np.array([[-0.2, 1.0], [-1.0, -0.2]])  # eigenvalues -0.2 +- 1i: a stable spiral
    pts = dyn.points_of_field(linear_field, {"A": a[None], "b": np.zeros((1, 2))}, np.ones((1, 3, 2)), CFG)
    assert [p["label"] for p in pts.network(0)] == ["stable"]


def test_the_ghost_of_a_saddle_node_is_one_slow_point_and_no_fixed_point():
    field = lambda p, x: x**2 + p["r"]  # noqa: E731 - the canonical saddle-node normal form
    x0 = np.linspace(-1, 1, 9)[None, :, None].repeat(2, 0)
    pts = dyn.points_of_field(field, {"r": np.array([0.002, -0.04])}, x0, CFG)
    ghost, pair = pts.network(0), pts.network(1)
    # r > 0: one ghost near x = 0, slow (q = r^2 / 2), not fixed
    assert [p["label"] for p in ghost] == ["ghost"]
    assert abs(ghost[0]["x"][0]) < 1e-4 and ghost[0]["q"] == pytest.approx(0.002**2 / 2, rel=1e-6)
    assert pts.counts()[0, [dyn.STABLE, dyn.SADDLE, dyn.UNSTABLE]].sum() == 0
    # r < 0: a stable point at -sqrt(-r) and an unstable one at +sqrt(-r)
    by_label = {p["label"]: p["x"][0] for p in pair}
    assert set(by_label) == {"stable", "unstable"}
    assert by_label["stable"] == pytest.approx(-0.2, abs=1e-8) and by_label["unstable"] == pytest.approx(0.2, abs=1e-8)
    assert list(pts.manifold_dim()) == [1, 0]


def self_exciting_network(n_units: int, w: float) -> tuple[LeakyRNN, dict[str, np.ndarray]]:
    """Uncoupled leaky units with self-excitation ``w`` > 1, no biases: each unit has fixed points
    0 (unstable) and +-r* with r* = tanh(w r*) (stable), so the network has 3^n of them."""
    model = LeakyRNN(n_neurons=n_units, n_inputs=2, n_outputs=2, dt_ms=5.0, tau_ms=10.0)
    params = {k: np.zeros(v.shape) for k, v in model.init(jax.random.PRNGKey(0)).items()}
    params["W_rec"] = w * np.eye(n_units)
    return model, params


def test_a_hand_built_network_has_all_its_fixed_points_found_once_and_labelled():
    model, params = self_exciting_network(2, 2.0)
    r_star = 0.9575040240772919  # r = tanh(2 r)
    grid = np.linspace(-1.2, 1.2, 7)
    x0 = np.array(list(itertools.product(grid, grid)))[None]
    pts = dyn.points_of_field(dyn.model_field(model), {k: v[None] for k, v in params.items()}, x0,
                              dyn.FinderConfig(batch_size=1))
    found = pts.network(0)
    assert len(found) == 9
    expected = {}
    for point in itertools.product((-r_star, 0.0, r_star), repeat=2):
        n_zero = sum(v == 0.0 for v in point)
        expected[point] = ("stable", "saddle", "unstable")[n_zero]
    for p in found:
        key = min(expected, key=lambda e: np.linalg.norm(np.array(e) - p["x"]))
        np.testing.assert_allclose(p["x"], key, atol=1e-7)
        assert p["label"] == expected.pop(key)
        # tau dr/dt = -r + tanh(w r): eigenvalue -1 + w (1 - tanh(w r)^2) per unit, in units of tau
        np.testing.assert_allclose(np.sort(p["eigenvalues"].real),
                                   np.sort(-1 + 2.0 * (1 - np.tanh(2.0 * np.array(key)) ** 2)), atol=1e-7)
    assert not expected
    assert list(pts.counts()[0]) == [4, 4, 1, 0, 0]


@pytest.fixture(scope="module")
def random_networks():
    model = LeakyRNN(n_neurons=12, n_inputs=2, n_outputs=2, dt_ms=5.0)
    task = get_task("dcd")(dt_ms=5.0, cue_ms=10.0, response_ms=20.0, trials_per_cue=2)
    params = jax.vmap(lambda k: model.init(k))(jax.random.split(jax.random.PRNGKey(3), 5))
    # strong recurrence: several fixed points, saddles, sometimes slow points
    params = {k: np.asarray(v) * (3.0 if k == "W_rec" else 1.0) for k, v in params.items()}
    return model, task, params, task.timing({"delay_ms": 20.0})


def test_the_vmapped_finder_equals_the_single_network_finder_whatever_the_batching(random_networks):
    model, task, params, timing = random_networks
    cfg = dyn.FinderConfig(n_initial=12, batch_size=2)
    together = dyn.network_points(model, task, params, timing, cfg)
    assert together.kept.any()
    for k in range(5):
        alone = dyn.network_points(model, task, {n: v[k:k + 1] for n, v in params.items()}, timing,
                                   dyn.FinderConfig(n_initial=12, batch_size=1))
        np.testing.assert_array_equal(alone.labels[0], together.labels[k])
        np.testing.assert_allclose(alone.x[0][alone.kept[0]], together.x[k][together.kept[k]], atol=1e-9)
    reordered = dyn.network_points(model, task, {n: v[::-1] for n, v in params.items()}, timing,
                                   dyn.FinderConfig(n_initial=12, batch_size=3))
    np.testing.assert_array_equal(reordered.counts()[::-1], together.counts())


def test_initial_states_are_visited_states_and_do_not_depend_on_the_other_networks(random_networks):
    model, task, params, timing = random_networks
    cfg = dyn.FinderConfig(n_initial=10, jitter=0.0)
    one = {k: jnp.asarray(v[0]) for k, v in params.items()}
    x0 = np.asarray(dyn.initial_states(model, task, one, timing, cfg))
    assert x0.shape == (10, 12)
    assert np.all(np.abs(x0) < 1)  # tanh rates
    assert np.abs(x0).max() > 0  # not all the same empty state
    jittered = np.asarray(dyn.initial_states(model, task, one, timing, dyn.FinderConfig(n_initial=10, jitter=0.1)))
    assert 0.05 < np.std(jittered - x0) < 0.15


def test_finder_settings_are_checked_with_the_offending_field_named():
    with pytest.raises(ValueError, match="dynamics.fixed_q"):
        dyn.FinderConfig(fixed_q=1e-3, slow_q=1e-4)
    with pytest.raises(ValueError, match="dynamics.n_initial"):
        dyn.FinderConfig(n_initial=0)


def test_the_work_queue_gives_what_the_single_program_finder_gives(random_networks):
    # points_of_field runs the rounds of BFGS as a queue of lanes; find_points runs the same rounds for one
    # network inside one program (vmappable, jit-able): the same points
    model, task, params, timing = random_networks
    cfg = dyn.FinderConfig(n_initial=6, batch_size=2, round_steps=16, max_steps=96)
    queued = dyn.network_points(model, task, params, timing, cfg)
    field = dyn.model_field(model)
    x0 = dyn.initial_states(model, task, {k: jnp.asarray(v[1]) for k, v in params.items()}, timing, cfg)
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        one = {k: jnp.asarray(v[1], jnp.float64) for k, v in params.items()}
        x, q, kept = jax.jit(lambda p, s: dyn.find_points(field, p, s, cfg))(one, jnp.asarray(x0, jnp.float64))
    # the same points (which of several starts that reached one point stands for it may differ: their q
    # differ only in rounding)
    single = np.asarray(x)[np.asarray(kept)]
    found = queued.x[1][queued.kept[1]]
    assert len(single) == len(found) >= 1
    by_position = lambda a: a[np.lexsort(np.round(a, 6).T)]  # noqa: E731
    # (to 1e-4: a slow point is a flat minimum of q, where rounding moves the minimiser's end)
    np.testing.assert_allclose(by_position(single), by_position(found), atol=1e-4)
