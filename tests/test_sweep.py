"""Sweep files: the paper grids, cell keys, chunk-aligned blocking, and validation of bad files."""

import itertools

import numpy as np
import pytest

from conftest import ROOT, tiny_sweep_text
from rnnsweep import schedule
from rnnsweep.sweep import SweepError, load_sweep, parse_sweep

PAPER = {  # sweep file: (cells, lr values, other axis, values, epochs rule checks)
    "dcd_nopost_narrow": (31500, np.logspace(-0.5, -2, 20)[:15], "delay_ms", np.arange(0, 401, 20)),
    "dcd_nopost_broad": (31500, np.logspace(-1, -3, 15), "delay_ms", np.arange(0, 401, 20)),
    "dcd_post": (6300, np.logspace(-1, -3, 15), "delay_ms", np.arange(0, 401, 20)),
    "dcd_long_tau": (4200, np.logspace(-1, -3, 10), "delay_ms", np.arange(0, 801, 40)),
    "no_memory": (8000, np.logspace(0, -3, 20), "response_ms", np.arange(20, 401, 20)),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_sweeps_have_the_exact_grids(name):
    sweep = load_sweep(ROOT / "sweeps" / f"{name}.toml")
    n_cells, lrs, axis, values = PAPER[name]
    assert sweep.n_cells == n_cells
    np.testing.assert_allclose(sweep.axes["lr"], lrs, rtol=1e-12)
    np.testing.assert_array_equal(sweep.axes[axis], values)
    assert sweep.model.n_neurons == 100 and sweep.task.n_trials == 128 and sweep.task.dt_ms == 5.0
    tau, post, readout = {"dcd_long_tau": (20.0, 0.0, "sigmoid"), "dcd_post": (10.0, 30.0, "sigmoid"),
                          "no_memory": (10.0, 0.0, "linear")}.get(name, (10.0, 0.0, "sigmoid"))
    assert (sweep.model.tau_ms, getattr(sweep.task, "post_ms", 0.0), sweep.model.readout) == (tau, post, readout)
    assert (sweep.train.optimizer, sweep.train.momentum, sweep.train.weight_decay) == ("sgd", 0.9, 1e-7)
    budgets = {c.coords["lr"]: c.n_epochs for c in sweep.cells()[: len(lrs) * len(values)]}
    for lr, n in budgets.items():
        expected = {"dcd_post": max(1000, 100 / lr), "no_memory": 3000}.get(name, max(1000, 30 / lr))
        assert n == int(expected + 1e-9)
    if name == "no_memory":
        assert sweep.train.stop_loss_above == 100 and sweep.task.loss_weighting == "uniform"


def test_epoch_rule_examples():
    sweep = parse_sweep(tiny_sweep_text(lrs="[0.3, 0.01, 0.001]", epochs="max(1000, 30/lr)"))
    assert sorted({c.n_epochs for c in sweep.cells()}) == [1000, 3000, 30000]


def test_keys_pair_seeds_and_ignore_the_rest_of_the_grid():
    a = parse_sweep(tiny_sweep_text(lrs="[0.4, 0.1]", delays="[0.0, 20.0]"))
    b = parse_sweep(tiny_sweep_text(lrs="[0.1, 0.7]", delays="[20.0]"))
    ca, cb = a.cells(), b.cells()
    init_a, data_a = a.keys(ca)
    init_b, data_b = b.keys(cb)
    for i, j in itertools.product(range(len(ca)), range(len(cb))):
        same_seed = ca[i].coords["seed"] == cb[j].coords["seed"]
        assert np.array_equal(init_a[i], init_b[j]) == same_seed  # paired design across lr/delay
        assert np.array_equal(data_a[i], data_b[j]) == (ca[i].coords == cb[j].coords)
    assert len({tuple(k) for k in data_a}) == len(ca)


def test_blocks_hold_whole_units_and_every_cell_once():
    sweep = parse_sweep(tiny_sweep_text(n_seeds=5, lrs="[0.4, 0.1, 0.05]", delays="[0.0, 20.0, 60.0]", block_size=7,
                                        max_padding=0.25)
                        + "seeds_per_chunk = 2\n")
    assert schedule.chunk_shape(sweep) == (2, 1, 1)
    blocks = schedule.blocks(sweep, 7)
    seen = [c.index for b in blocks for c in b.cells]
    assert sorted(seen) == sorted(c.index for c in sweep.cells()) and len(set(seen)) == len(seen)
    for b in blocks:
        assert b.n_cells <= 7 or len(b.units) == 1
        for u in b.units:  # each unit is exactly one chunk along the grid axes
            sel = u.index[0]
            assert sel.start % 2 == 0 and (sel.stop - sel.start == 2 or sel.stop == 5)
        real = sum(c.n_epochs * c.n_steps for c in b.cells)
        assert b.n_cells * b.n_steps_max * b.n_epochs_max <= (1 + sweep.run.max_padding) * real + 1e-9


BAD = [
    ("unknown top-level key", lambda t: t + "\n[extra]\nx = 1\n", "extra"),
    ("unknown model key", lambda t: t.replace("n_neurons = 6", "n_neurons = 6\nn_nerons = 3"), "model.n_nerons"),
    ("wrong type", lambda t: t.replace("n_neurons = 6", 'n_neurons = "six"'), "model.n_neurons"),
    ("unknown train key", lambda t: t.replace("chunk_epochs = 3", "chunk_epochs = 3\nlearning_rate = 1"), "train.learning_rate"),
    ("empty axis", lambda t: t.replace("lr = [0.4, 0.1]", "lr = []"), "grid.lr"),
    ("negative delay", lambda t: t.replace("delay_ms = [0.0, 20.0]", "delay_ms = [0.0, -20.0]"), "grid.delay_ms"),
    ("negative lr", lambda t: t.replace("lr = [0.4, 0.1]", "lr = [0.4, -0.1]"), "grid.lr"),
    ("no seeds", lambda t: t.replace("seed = 2", "seed = 0"), "grid.seed"),
    ("duration not whole steps", lambda t: t.replace("delay_ms = [0.0, 20.0]", "delay_ms = [0.0, 22.0]"), "grid.delay_ms"),
    ("impossible response", lambda t: t.replace("response_ms = 20.0", "response_ms = 0.0"), "task.response_ms"),
    ("bad epoch rule", lambda t: t.replace('epochs = "max(4, 0.8/lr)"', 'epochs = "__import__(1)"'), "train.epochs"),
    ("unknown axis", lambda t: t.replace("seed = 2", "seed = 2\ntau_ms = [10.0]"), "grid.tau_ms"),
    ("unknown task", lambda t: t.replace('name = "dcd"', 'name = "no_such_task"'), "task.name"),
    ("axis also fixed", lambda t: t.replace("response_ms = 20.0", "response_ms = 20.0\ndelay_ms = 10.0"), "task.delay_ms"),
    ("not TOML", lambda t: t + "\n[[[", "not valid TOML"),
]


@pytest.mark.parametrize("case,edit,field", BAD, ids=[b[0] for b in BAD])
def test_bad_sweep_files_are_rejected_in_process(case, edit, field):
    with pytest.raises(SweepError, match=__import__("re").escape(field)):
        parse_sweep(edit(tiny_sweep_text()))
