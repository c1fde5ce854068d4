"""Parameter snapshots (``[run] snapshot_every``): layout and values, results bit-identical with and
without them, a killed run resumed, their size in the plan and the disk check, resume refusal,
validation, and damage found by ``rnnsweep check``."""

import json
import shutil
import signal

import numpy as np
import pytest
import zarr

from conftest import stop_mid_block, tiny_sweep_text
from rnnsweep import limits, schema
from rnnsweep.cli import main
from rnnsweep.executor import Executor
from rnnsweep.schedule import cell_hypers, units
from rnnsweep.sweep import Difference, SweepError, parse_sweep, sweep_differences
from rnnsweep.train import Trainer

EVERY = 20
# budgets 60, 60, 60 and 120 epochs (multiples of EVERY); lr 1e9 diverges in its first epoch; blocks of
# one unit (2 seeds). Chunks of 30 epochs become 10 with snapshots every 20.
SWEEP = dict(n_neurons=8, epochs="max(60, 6/lr)", chunk_epochs=30, n_seeds=2, lrs="[1e9, 0.4, 0.1, 0.05]",
             delays="[20.0]", block_size=2)
N_CELLS = 8


def sweep_text(every: int = EVERY) -> str:
    run = "[run]\ncheckpoint_minutes = 0.0" + (f"\nsnapshot_every = {every}" if every else "")
    return tiny_sweep_text(**SWEEP).replace("[run]", run)


def arrays(store) -> dict[str, np.ndarray]:
    return {name: np.asarray(a[...]) for name, a in zarr.open_group(str(store / "tiny"), mode="r").arrays()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The sweep trained with and without snapshots (in process): ``(folder, with, without)``."""
    folder = tmp_path_factory.mktemp("snapshots")
    for name, every in (("with", EVERY), ("without", 0)):
        (folder / f"{name}.toml").write_text(sweep_text(every))
        assert main(["run", str(folder / f"{name}.toml"), "--store", str(folder / f"{name}.zarr"), "--quiet"]) == 0
    return folder, arrays(folder / "with.zarr"), arrays(folder / "without.zarr")


def test_snapshots_hold_each_cells_parameters_at_their_epochs(trained, capsys):
    folder, stored, _ = trained
    group = zarr.open_group(str(folder / "with.zarr" / "tiny"), mode="r")
    snapshot = group[schema.snapshot_array("W_rec")]
    assert snapshot.metadata.dimension_names == ("seed", "lr", "delay_ms", "snapshot", "neuron", "neuron_pre")
    assert snapshot.chunks == (2, 1, 1, 1, 8, 8)
    assert stored["snapshot"].dtype == np.int32 and list(stored["snapshot"]) == [0, 20, 40, 60, 80, 100, 120]

    sweep = parse_sweep(sweep_text())
    executor = Executor(Trainer(sweep.model, sweep.task, sweep.train))  # vmapped Trainer.init_cell, as the runner
    status, epochs_run = stored["status"], stored["epochs_run"]
    assert sorted(np.unique(status)) == [schema.Status.DONE, schema.Status.DIVERGED]
    assert sorted(np.unique(epochs_run)) == [1, 60, 120]  # a diverged cell and two budgets
    for unit in units(sweep):  # the initial networks, computed per block of one unit like the runner's
        initial = executor.init_block(cell_hypers(sweep, list(unit.cells))).params
        for name, value in initial.items():
            np.testing.assert_array_equal(stored[schema.snapshot_array(name)][unit.index + (0,)], value, err_msg=name)
    for name in initial:
        snaps = stored[schema.snapshot_array(name)]
        for index in np.ndindex(sweep.shape):
            cell = snaps[index]  # (snapshot, *param dims)
            kept = stored["snapshot"] <= epochs_run[index]
            assert np.all(np.isfinite(cell[kept])) and np.all(np.isnan(cell[~kept])), (name, index)
            if status[index] == schema.Status.DONE:  # the last snapshot is the final network
                np.testing.assert_array_equal(cell[epochs_run[index] // EVERY], stored[schema.param_array(name)][index])

    xr = pytest.importorskip("xarray")
    ds = xr.open_zarr(folder / "with.zarr", group="tiny")
    assert ds.snapshot_W_rec.sel(snapshot=60).dims == ("seed", "lr", "delay_ms", "neuron", "neuron_pre")
    np.testing.assert_array_equal(ds.snapshot_W_rec.sel(snapshot=60).values, stored["snapshot_W_rec"].take(3, axis=3))

    assert main(["info", str(folder / "with.zarr")]) == 0
    assert "snapshots    7 of the parameters, every 20 epochs" in capsys.readouterr().out


def test_results_with_snapshots_are_bit_identical_to_results_without(trained):
    # chunks of 10 epochs with snapshots, 30 without: the chunk length is run tuning
    _, stored, plain = trained
    assert set(stored) - set(plain) == {"snapshot"} | {schema.snapshot_array(p) for p in
                                                       ("W_in", "b_in", "W_rec", "b_rec", "W_out", "b_out")}
    for name, value in plain.items():
        np.testing.assert_array_equal(stored[name], value, err_msg=name)


def test_chunks_end_at_every_snapshot_epoch():
    sweep = parse_sweep(sweep_text())
    executor = Executor(Trainer(sweep.model, sweep.task, sweep.train))  # chunk_epochs = 30
    assert executor.chunk_length() == 30 and executor.chunk_length(20) == 10 and executor.chunk_length(60) == 30
    # a checkpoint saved at epoch 45 by a run with other chunks (15 epochs: chunks of 5) goes on in chunks of 5
    assert executor.chunk_length(20, first=40) == 10 and executor.chunk_length(20, first=45) == 5


def test_a_run_killed_mid_block_resumes_to_the_same_snapshots(tmp_path, trained):
    # SIGKILL once a block is finished and another has passed a chunk boundary (checkpointed, its first
    # snapshot rows written); the resume continues from the checkpoint and rewrites the later rows
    folder, full, _ = trained
    cut = tmp_path / "cut.zarr"
    returncode, err = stop_mid_block(folder / "with.toml", cut, N_CELLS, signal.SIGKILL)
    assert returncode == -signal.SIGKILL, err
    partial = arrays(cut)
    pending = partial["status"] == schema.Status.PENDING
    assert 0 < pending.sum() < N_CELLS
    assert np.any(np.isfinite(partial["snapshot_W_rec"][pending][:, 0]))  # the block in flight's first rows

    assert main(["run", str(folder / "with.toml"), "--store", str(cut), "--resume", "--quiet"]) == 0
    again = arrays(cut)
    assert full.keys() == again.keys()
    for name in full:
        np.testing.assert_array_equal(full[name], again[name], err_msg=name)


def test_the_plan_counts_the_snapshots_and_the_disk_check_includes_them(monkeypatch):
    from rnnsweep.plan import Throughput, format_plan, plan_sweep

    with_snapshots, without = parse_sweep(sweep_text()), parse_sweep(sweep_text(every=0))
    n_params = sum(int(np.prod(s)) for s in with_snapshots.model.param_shapes().values())
    per_cell = [c.n_epochs // EVERY + 1 for c in with_snapshots.cells()]  # 4 snapshots, or 7 for 120 epochs
    assert sorted(per_cell) == [4] * 6 + [7] * 2
    extra = 4 * n_params * sum(per_cell)  # float32
    assert limits.store_bytes(with_snapshots) - limits.store_bytes(without) == extra
    assert limits.snapshot_bytes(with_snapshots) == extra and limits.snapshot_bytes(without) == 0

    monkeypatch.setattr(limits, "free_bytes", lambda path: limits.store_bytes(without) + 1)
    limits.check_plan(without, "s.zarr")
    with pytest.raises(limits.LimitError, match="snapshots every 20 epochs included"):
        limits.check_plan(with_snapshots, "s.zarr")

    throughput = Throughput([(12, 1000.0, {})], "test")
    rows = [plan_sweep(with_snapshots, throughput), plan_sweep(without, throughput)]
    assert rows[0]["store_gb"] == pytest.approx(rows[1]["store_gb"] + extra / 1e9)
    text = format_plan(rows, throughput)
    assert f"store GB of tiny includes {extra / 1e6:.1f} MB of parameter snapshots (every 20 epochs)" in text
    assert text.count("parameter snapshots") == 1


def test_resume_with_another_snapshot_setting_refuses_and_old_stores_resume(tmp_path, capsys):
    from rnnsweep import store as zstore
    from rnnsweep.runner import check_same_sweep

    with_snapshots, without = tmp_path / "with.toml", tmp_path / "without.toml"
    with_snapshots.write_text(sweep_text())
    without.write_text(sweep_text(every=0))
    assert main(["init", str(tmp_path / "s.zarr"), str(with_snapshots)]) == 0
    assert main(["run", str(without), "--store", str(tmp_path / "s.zarr"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "run.snapshot_every (store: 20, sweep file: 0)" in err and "set run.snapshot_every = 20" in err

    # a store made before the setting existed has no "run" in its canonical form: it had no snapshots
    old = parse_sweep(sweep_text(every=0)).canonical()
    del old["run"]
    assert sweep_differences(parse_sweep(sweep_text(every=0)), old) == []
    assert sweep_differences(parse_sweep(sweep_text()), old) == [Difference("run.snapshot_every", 0, 20, True)]
    assert main(["init", str(tmp_path / "old.zarr"), str(without)]) == 0
    group = zstore.open_group(tmp_path / "old.zarr", "tiny", mode="r+")
    group.attrs[schema.Attr.SWEEP_CANONICAL] = json.dumps(old, sort_keys=True)
    check_same_sweep(group, parse_sweep(sweep_text(every=0)))


@pytest.mark.parametrize("value", ["-1", "2.5", '"20"', "true", "121"])
def test_snapshot_every_must_be_a_whole_number_of_epochs_within_the_budget(value):
    text = tiny_sweep_text(**SWEEP).replace("[run]", f"[run]\nsnapshot_every = {value}")
    with pytest.raises(SweepError, match="run.snapshot_every"):
        parse_sweep(text)


def test_a_lost_or_corrupted_snapshot_chunk_of_a_finished_cell_is_damage(tmp_path, trained):
    from rnnsweep.integrity import check_sweep

    folder, full, _ = trained
    store = tmp_path / "s.zarr"
    shutil.copytree(folder / "with.zarr", store)
    shutil.copy(folder / "with.toml", tmp_path / "with.toml")
    assert check_sweep(store).damages == []  # NaN past epochs_run is what the store holds
    (store / "tiny" / "snapshot_W_rec" / "c" / "0" / "1" / "0" / "2" / "0" / "0").unlink()  # lr 0.4, epoch 40
    chunk = store / "tiny" / "snapshot_b_out" / "c" / "0" / "3" / "0" / "6" / "0"  # lr 0.05, epoch 120
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    (store / "tiny" / "snapshot_W_in" / "c" / "0" / "0" / "0" / "0" / "0" / "0").unlink()  # diverged cells, epoch 0
    report = check_sweep(store)
    damaged = {report.cell_label(c): d.reasons for d in report.damages for c in d.cells}
    assert sorted(damaged) == sorted(f"seed={s},lr={lr},delay_ms=20" for lr in ("0.05", "0.4", "1e+09") for s in (0, 1))
    assert damaged["seed=1,lr=1e+09,delay_ms=20"] == ["snapshot_W_in missing or not finite up to epochs_run"]
    assert damaged["seed=0,lr=0.4,delay_ms=20"] == ["snapshot_W_rec missing or not finite up to epochs_run"]
    assert "snapshot_b_out unreadable" in damaged["seed=0,lr=0.05,delay_ms=20"][0]

    # --resume retrains the damaged units (in their recorded blocks) and rewrites their snapshots
    assert main(["run", str(tmp_path / "with.toml"), "--store", str(store), "--resume", "--quiet"]) == 0
    repaired = arrays(store)
    for name in full:
        np.testing.assert_array_equal(full[name], repaired[name], err_msg=name)
