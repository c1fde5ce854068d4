"""Trainer invariants: vmapped == single network, exact masking of padding, independence from
block composition, finite-difference gradients, isolated divergence, compile reuse."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_sweep_text
from rnnsweep.executor import Executor
from rnnsweep.runner import run_sweep
from rnnsweep.schedule import cell_hypers
from rnnsweep.schema import Status
from rnnsweep.sweep import parse_sweep
from rnnsweep.train import Trainer


def take(tree, i):
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[i], tree)


def stack(trees):
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *trees)


@pytest.fixture(scope="module")
def setup():
    sweep = parse_sweep(tiny_sweep_text(lrs="[0.5, 0.2, 0.05]", delays="[0.0, 20.0, 40.0]", epochs="max(5, 0.9/lr)",
                                        chunk_epochs=4))
    trainer = Executor(Trainer(sweep.model, sweep.task, sweep.train))
    cells = sweep.cells()
    return sweep, trainer, cells


def assert_cells_equal(s1, c1, s2, c2, rtol=2e-5, atol=1e-6):
    np.testing.assert_array_equal(np.isnan(c1), np.isnan(c2))
    np.testing.assert_allclose(c1, c2, rtol=rtol, atol=atol, equal_nan=True)
    for k in s1.params:
        np.testing.assert_allclose(s1.params[k], s2.params[k], rtol=rtol, atol=atol)
    assert int(s1.status) == int(s2.status) and int(s1.epochs_run) == int(s2.epochs_run)


def test_vmapped_block_equals_single_network_trainer(setup):
    sweep, trainer, cells = setup
    chosen = [cells[i] for i in (0, 4, 9, 13, 17)]  # mixed lr, delay and seed: padded steps and epochs
    hypers = cell_hypers(sweep, chosen)
    n_steps_max = max(c.n_steps for c in chosen)
    n_epochs_max = max(c.n_epochs for c in chosen)
    states, curves = trainer.train_block(hypers, n_steps_max, n_epochs_max)
    for i, cell in enumerate(chosen):
        single, single_curves = trainer.train_single(take(hypers, i), cell.n_steps, cell.n_epochs)
        block_curves = curves[i]
        assert np.all(np.isnan(block_curves[cell.n_epochs:]))  # NaN past the cell's own budget
        assert_cells_equal(take(states, i), block_curves[: cell.n_epochs], single, np.asarray(single_curves))
        assert int(single.status) == Status.DONE


def test_padding_in_steps_and_epochs_changes_nothing(setup):
    sweep, trainer, cells = setup
    cell = cells[1]
    h = take(cell_hypers(sweep, [cell]), 0)
    own, own_curves = trainer.train_single(h, cell.n_steps, cell.n_epochs)
    padded, padded_curves = trainer.train_single(h, cell.n_steps + 11, cell.n_epochs + 6)
    assert np.all(np.isnan(np.asarray(padded_curves)[cell.n_epochs:]))
    assert_cells_equal(own, np.asarray(own_curves), padded, np.asarray(padded_curves)[: cell.n_epochs])


def test_results_do_not_depend_on_block_size_or_order(setup):
    sweep, trainer, cells = setup
    chosen = cells[:8]
    n_steps, n_ep = max(c.n_steps for c in chosen), max(c.n_epochs for c in chosen)
    hypers = cell_hypers(sweep, chosen)
    ref_states, ref_curves = trainer.train_block(hypers, n_steps, n_ep)
    order = np.random.default_rng(0).permutation(len(chosen))
    perm_states, perm_curves = trainer.train_block(take(hypers, order), n_steps, n_ep)
    halves = [trainer.train_block(take(hypers, idx), n_steps, n_ep) for idx in (np.arange(3), np.arange(3, 8))]
    split_states = stack([take(s, i) for s, _ in halves for i in range(len(np.asarray(s.status)))])
    split_curves = np.concatenate([c for _, c in halves])
    for i in range(len(chosen)):
        j = int(np.flatnonzero(order == i)[0])
        assert_cells_equal(take(ref_states, i), ref_curves[i], take(perm_states, j), perm_curves[j])
        assert_cells_equal(take(ref_states, i), ref_curves[i], take(split_states, i), split_curves[i])


def test_gradients_match_finite_differences():
    sweep = parse_sweep(tiny_sweep_text(n_neurons=4, extra='\n'.join(["", "[train.__dummy__]"])[:0]).replace(
        'epochs = "max(4, 0.8/lr)"', 'epochs = "3"\ndtype = "float64"'))
    trainer = Trainer(sweep.model, sweep.task, sweep.train)
    cell = sweep.cells()[3]
    with Executor(trainer).numerics():
        h = jax.tree_util.tree_map(jnp.asarray, take(cell_hypers(sweep, [cell]), 0))
        params = sweep.model.init(h.init_key, jnp.float64)
        loss = jax.jit(lambda p: trainer.epoch_loss(p, h, jnp.int32(2), cell.n_steps)[0])
        grads = jax.grad(loss)(params)
        rng = np.random.default_rng(0)
        for name in ("W_rec", "W_in", "b_out"):
            direction = jnp.asarray(rng.standard_normal(params[name].shape))
            eps = 1e-6
            plus = dict(params, **{name: params[name] + eps * direction})
            minus = dict(params, **{name: params[name] - eps * direction})
            fd = (loss(plus) - loss(minus)) / (2 * eps)
            np.testing.assert_allclose(float(jnp.sum(grads[name] * direction)), float(fd), rtol=1e-6, atol=1e-12)


def test_diverging_cell_is_marked_and_leaves_neighbours_untouched(setup):
    sweep, trainer, cells = setup
    chosen = cells[:3]
    hypers = cell_hypers(sweep, chosen)
    n_steps, n_ep = max(c.n_steps for c in chosen), max(c.n_epochs for c in chosen)
    bad = hypers._replace(lr=np.array([hypers.lr[0], 1e9, hypers.lr[2]], np.float32))
    states, curves = trainer.train_block(bad, n_steps, n_ep)
    ok_states, ok_curves = trainer.train_block(take(hypers, [0, 2]), n_steps, n_ep)
    assert int(states.status[1]) == Status.DIVERGED
    stopped = int(states.epochs_run[1])
    assert stopped < chosen[1].n_epochs and np.all(np.isnan(curves[1, stopped:]))
    assert all(np.all(np.isfinite(v[1])) for v in states.params.values())  # last good parameters kept
    for i, j in ((0, 0), (2, 1)):
        assert_cells_equal(take(states, i), curves[i], take(ok_states, j), ok_curves[j], rtol=0, atol=0)


def test_loss_limit_stops_a_cell_as_failed():
    sweep = parse_sweep(tiny_sweep_text(epochs="6").replace("chunk_epochs = 3", "chunk_epochs = 3\nstop_loss_above = 1e-6"))
    trainer = Trainer(sweep.model, sweep.task, sweep.train)
    cells = sweep.cells()[:2]
    hypers = cell_hypers(sweep, cells)
    states, curves = Executor(trainer).train_block(hypers, max(c.n_steps for c in cells), 6)
    init = jax.vmap(trainer.init_cell)(jax.tree_util.tree_map(jnp.asarray, hypers))
    assert list(np.asarray(states.status)) == [Status.FAILED] * 2
    assert list(np.asarray(states.epochs_run)) == [1, 1]
    assert np.all(np.isfinite(curves[:, 0])) and np.all(np.isnan(curves[:, 1:]))
    for k in init.params:
        np.testing.assert_array_equal(states.params[k], init.params[k])


def test_blocks_of_equal_shape_compile_once(tmp_path):
    # 3 learning rates with the same budget and one delay: 3 blocks of 2 cells, one program.
    sweep = parse_sweep(tiny_sweep_text(lrs="[0.3, 0.2, 0.1]", delays="[20.0]", epochs="4", block_size=2))
    report = run_sweep(sweep, tmp_path / "s.zarr", progress=False, log=lambda s: None)
    assert report.blocks == 3 and report.cells_trained == 6
    assert report.compiles == 1
