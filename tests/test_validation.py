"""Bad input is refused before any work: a clear message naming the field, exit status 2, and no
store on disk (or the old store untouched). Each case is a real sweep file run through the CLI's
own entry point; one more case runs the CLI in a real subprocess."""

import math
import re
import time

import numpy as np
import pytest

from conftest import run_cli, tiny_sweep_text
from rnnsweep import limits
from rnnsweep.cli import main
from rnnsweep.sweep import SweepError, parse_sweep, root_key


def edit(text: str, setting: str, value: str | None) -> str:
    """Set ``section.key`` (or a top-level ``key``) of a sweep file to the TOML ``value``; None deletes
    it. A key the section lacks is added at its top."""
    section, _, key = setting.rpartition(".")
    lines, out, current, done = text.splitlines(), [], "", False
    for line in lines:
        header = re.fullmatch(r"\[(\w+)\]", line.strip())
        if header:
            if current == section and not done and value is not None:
                out.append(f"{key} = {value}")
                done = True
            current = header.group(1)
            out.append(line)
            continue
        if current == section and re.match(rf"{re.escape(key)}\s*=", line):
            done = True
            if value is not None:
                out.append(f"{key} = {value}")
            continue
        out.append(line)
    if not done and value is not None:
        if section and f"[{section}]" not in text:
            out.append(f"[{section}]")
        out.append(f"{key} = {value}")
    return "\n".join(out) + "\n"


def case(text_or_edits, field: str, label: str | None = None):
    edits = text_or_edits if isinstance(text_or_edits, dict) else None
    label = label or ", ".join(f"{k}={v if v is None or len(v) < 40 else v[:37] + '...'}" for k, v in edits.items())
    return pytest.param(edits if edits is not None else text_or_edits, field, id=label)


def without_grid(text: str) -> str:
    before, rest = text.split("[grid]")
    return before + "[run]" + rest.split("[run]")[1]


LONG_PLUS = '"' + "1" + "+1" * 5000 + '"'
LONG_MINUS = '"' + "-" * 5000 + '1"'
LONG_PARENS = '"' + "(" * 300 + "1" + ")" * 300 + '"'

CASES = [
    # top level
    case({"name": '""'}, "name"),
    case({"name": '"a/b"'}, "name"),
    case({"name": '"../evil"'}, "name"),
    case({"name": '".hidden"'}, "name"),
    case({"name": '"-flag"'}, "name"),
    case({"name": '"na\u00efve"'}, "name"),
    case({"name": '"' + "x" * 300 + '"'}, "name"),
    case({"name": "5"}, "name"),
    case({"root_seed": "-1"}, "root_seed"),
    case({"root_seed": str(2**64)}, "root_seed"),
    case({"root_seed": '"1"'}, "root_seed"),
    case({"root_seed": "1.5"}, "root_seed"),
    case({"description": "5"}, "description"),
    case({"description": '"' + "d" * 2000 + '"'}, "description"),
    case({"nme": '"x"'}, "nme"),
    # grid
    case({"grid.seed": "0"}, "grid.seed"),
    case({"grid.seed": "1000000000"}, "grid.seed"),
    case({"grid.seed": "[0, 4294967296]"}, "grid.seed"),
    case({"grid.seed": "[0, 0]"}, "grid.seed"),
    case({"grid.seed": "[-1]"}, "grid.seed"),
    case({"grid.seed": "2.5"}, "grid.seed"),
    case({"grid.seed": None}, "grid.seed"),
    case({"grid.lr": "[]"}, "grid.lr"),
    case({"grid.lr": "[0.1, nan]"}, "grid.lr"),
    case({"grid.lr": "[0.1, inf]"}, "grid.lr"),
    case({"grid.lr": "[-0.1]"}, "grid.lr"),
    case({"grid.lr": "[0.0]"}, "grid.lr"),
    case({"grid.lr": "[0.1, 0.100000000001]"}, "grid.lr"),
    case({"grid.lr": '["0.1"]'}, "grid.lr"),
    case({"grid.lr": '"0.1"'}, "grid.lr"),
    case({"grid.lr": "{ logspace = [-3, -1, 10000000] }"}, "grid.lr.logspace"),
    case({"grid.lr": "{ logspace = [-3, nan, 3] }"}, "grid.lr.logspace"),
    case({"grid.lr": "{ logspace = [-3, -1, 0] }"}, "grid.lr.logspace"),
    case({"grid.lr": "{ logspace = [-3, -1, 2.5] }"}, "grid.lr.logspace"),
    case({"grid.lr": "{ linspace = [0.1, 0.2, 2], values = [0.1] }"}, "grid.lr"),
    case({"grid.lr": "{ logspace = [-3, -1, 3], first = 0 }"}, "grid.lr.first"),
    case({"grid.lr": "{ lgspace = [-3, -1, 3] }"}, "grid.lr.lgspace"),
    case({"grid.delay_ms": "{ linspace = [0, 400, 100000000] }"}, "grid.delay_ms.linspace"),
    case({"grid.delay_ms": "[1e15]"}, "grid.delay_ms"),
    case({"grid.delay_ms": "[1e9]"}, "grid.delay_ms"),
    case({"grid.delay_ms": "[0.0, -20.0]"}, "grid.delay_ms"),
    case({"grid.delay_ms": "[7.0]"}, "grid.delay_ms"),
    case({"grid.delay_ms": "[inf]"}, "grid.delay_ms"),
    case({"grid.tau_ms": "[10.0]"}, "grid.tau_ms"),
    case({"grid.n_neurons": "[4, 8]"}, "grid.n_neurons"),
    case({"grid.seed": "100000", "grid.lr": "{ logspace = [-3, -1, 1000] }",
          "grid.delay_ms": "{ linspace = [0, 400, 201] }"}, "grid", "grid above the cell limit"),
    # task
    case({"task.cue_ms": "inf"}, "task.cue_ms"),
    case({"task.cue_ms": "nan"}, "task.cue_ms"),
    case({"task.cue_ms": "-5.0"}, "task.cue_ms"),
    case({"task.cue_ms": "1e15"}, "task.cue_ms"),
    case({"task.dt_ms": "nan"}, "task.dt_ms"),
    case({"task.dt_ms": "0.0"}, "task.dt_ms"),
    case({"task.dt_ms": "-5.0"}, "task.dt_ms"),
    case({"task.response_ms": "0.0"}, "task.response_ms"),
    case({"task.response_ms": "300000.0", "task.cue_ms": "300000.0"}, "task.", "trial above the step limit"),
    case({"task.trials_per_cue": "0"}, "task.trials_per_cue"),
    case({"task.trials_per_cue": "3000000000"}, "task.trials_per_cue"),
    case({"task.trials_per_cue": "2.5"}, "task.trials_per_cue"),
    case({"task.loss_weighting": '"bogus"'}, "task.loss_weighting"),
    case({"task.step_rounding": '"nearest"'}, "task.step_rounding"),
    case({"task.name": '"no_such_task"'}, "task.name"),
    case({"task.name": "3"}, "task.name"),
    case({"task.delay_ms": "20.0"}, "task.delay_ms"),
    case({"task.extra": "1"}, "task.extra"),
    # model
    case({"model.n_neurons": "0"}, "model.n_neurons"),
    case({"model.n_neurons": "-3"}, "model.n_neurons"),
    case({"model.n_neurons": '"six"'}, "model.n_neurons"),
    case({"model.n_neurons": "3000000000"}, "model.n_neurons"),
    case({"model.noise_std": "inf"}, "model.noise_std"),
    case({"model.noise_std": "nan"}, "model.noise_std"),
    case({"model.tau_ms": "nan"}, "model.tau_ms"),
    case({"model.family": '"lstm9"'}, "model.family"),
    case({"model.n_nerons": "3"}, "model.n_nerons"),
    # train
    case({"train.lr": "0.1"}, "train.lr"),
    case({"train.lr": "nan", "grid.lr": None}, "train.lr"),
    case({"train.lr": "inf", "grid.lr": None}, "train.lr"),
    case({"train.momentum": "nan"}, "train.momentum"),
    case({"train.momentum": "-1.0"}, "train.momentum"),
    case({"train.weight_decay": "nan"}, "train.weight_decay"),
    case({"train.stop_loss_above": "nan"}, "train.stop_loss_above"),
    case({"train.stop_loss_above": "-inf"}, "train.stop_loss_above"),
    case({"train.max_param_abs": "inf"}, "train.max_param_abs"),
    case({"train.epochs": '"9**9**9**9"'}, "train.epochs"),
    case({"train.epochs": LONG_PLUS}, "train.epochs", "epochs: a long chain of +"),
    case({"train.epochs": LONG_MINUS}, "train.epochs", "epochs: a long unary chain"),
    case({"train.epochs": '"' + "1+" * 150 + '1"'}, "train.epochs", "epochs: 301 terms"),
    case({"train.epochs": LONG_PARENS}, "train.epochs", "epochs: deep parentheses"),
    case({"train.epochs": '"10**10"'}, "train.epochs"),
    case({"train.epochs": '"1e300 * 1e300"'}, "train.epochs"),
    case({"train.epochs": "10.5"}, "train.epochs"),
    case({"train.epochs": "nan"}, "train.epochs"),
    case({"train.epochs": '"__import__(1)"'}, "train.epochs"),
    case({"train.epochs": '"lr.__class__"'}, "train.epochs"),
    case({"train.epochs": '"max(lr=1)"'}, "train.epochs"),
    case({"train.epochs": '"0"'}, "train.epochs"),
    case({"train.epochs": '"1/(lr-lr)"'}, "train.epochs"),
    case({"train.epochs": '"(-8)**0.5"'}, "train.epochs"),
    case({"train.epochs": '"tau_ms"'}, "train.epochs"),
    case({"train.chunk_epochs": "100"}, "train.chunk_epochs"),
    case({"train.chunk_epochs": "0"}, "train.chunk_epochs"),
    case({"train.optimizer": '"adamw"'}, "train.optimizer"),
    case({"train.dtype": '"float16"'}, "train.dtype"),
    # run
    case({"run.max_padding": "nan"}, "run.max_padding"),
    case({"run.max_padding": "-1.0"}, "run.max_padding"),
    case({"run.block_size": "0"}, "run.block_size"),
    case({"run.block_size": '"big"'}, "run.block_size"),
    case({"run.seeds_per_chunk": "-1"}, "run.seeds_per_chunk"),
    case({"run.bogus": "1"}, "run.bogus"),
    case({"run.checkpoint_minutes": "-1.0"}, "run.checkpoint_minutes"),
    case({"run.checkpoint_minutes": "nan"}, "run.checkpoint_minutes"),
    # whole files
    case(tiny_sweep_text() + "\n[[[", "not valid TOML", "not TOML"),
    case("grid = 5\n" + without_grid(tiny_sweep_text()), "grid: must be a table", "grid not a table"),
    case("name = 'x'\n" + "# " + "x" * (1 << 20), "at most", "a file above 1 MiB"),
]


def sweep_text(spec) -> str:
    if isinstance(spec, str):
        return spec
    text = tiny_sweep_text(name="bad")
    for setting, value in spec.items():
        text = edit(text, setting, value)
    return text


def test_the_table_holds_over_sixty_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("spec,field", CASES)
def test_bad_sweep_file_is_refused_before_any_work(tmp_path, capsys, spec, field):
    sweep = tmp_path / "bad.toml"
    sweep.write_text(sweep_text(spec))
    store = tmp_path / "out.zarr"
    started = time.perf_counter()
    assert main(["run", str(sweep), "--store", str(store), "--quiet"]) == 2
    assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert field in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # no store, no half-made leftovers


def test_a_file_that_is_not_utf8_is_refused(tmp_path, capsys):
    sweep = tmp_path / "bad.toml"
    sweep.write_bytes(tiny_sweep_text().encode().replace(b'"tiny"', b'"t\xffny"'))
    assert main(["init", str(tmp_path / "out.zarr"), str(sweep)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert not (tmp_path / "out.zarr").exists()


HOSTILE_RULES = ["9**9**9**9", "1" + "+1" * 100000, "-" * 100000 + "1", "(" * 10000 + "1" + ")" * 10000,
                 "10**10", "9**9**9", "max(" * 1000 + "1" + ")" * 1000, "1e308*1e308"]


@pytest.mark.parametrize("rule", HOSTILE_RULES, ids=[r[:12] for r in HOSTILE_RULES])
def test_hostile_epoch_rules_fail_within_a_second(rule):
    started = time.perf_counter()
    with pytest.raises(SweepError, match="train.epochs"):
        parse_sweep(tiny_sweep_text(epochs=rule))
    assert time.perf_counter() - started < 1.0


def test_epoch_rules_within_the_limits_keep_their_values():
    sweep = parse_sweep(tiny_sweep_text(lrs="[0.3, 0.001]", epochs="int(max(1e3, 1e5*1e-4*10/lr))"))
    assert sorted({c.n_epochs for c in sweep.cells()}) == [1000, 100000]
    sweep = parse_sweep(tiny_sweep_text(lrs="[0.5]", epochs="ceil(2**3 + 7 // 2 + 7 % 4 - +1) + round(0.4)"))
    assert {c.n_epochs for c in sweep.cells()} == {8 + 3 + 3 - 1}
    assert parse_sweep(tiny_sweep_text(epochs=str(limits.MAX_EPOCHS))).max_epochs == limits.MAX_EPOCHS


def test_the_size_ceilings_give_the_numbers_and_allow_large_lifts_them(tmp_path, capsys, monkeypatch):
    sweep = tmp_path / "big.toml"
    sweep.write_text(tiny_sweep_text(name="big", n_seeds=1000, lrs="{ logspace = [-3, -1, 101] }", epochs="3"))
    assert main(["init", str(tmp_path / "big.zarr"), str(sweep)]) == 2  # refused before the grid is enumerated
    err = capsys.readouterr().err
    assert "202,000 cells" in err and "200,000" in err and "--allow-large" in err
    assert not (tmp_path / "big.zarr").exists()
    # the other ceilings, on a small sweep with lowered ceilings; --allow-large lifts each
    sweep.write_text(tiny_sweep_text(name="big"))
    for name, value, words in (("LARGE_NETWORK_EPOCHS", 10, "network-epochs"), ("LARGE_STORE_BYTES", 100, "bytes")):
        store = tmp_path / f"{name}.zarr"
        with monkeypatch.context() as m:
            m.setattr(limits, name, value)
            assert main(["init", str(store), str(sweep)]) == 2
            assert words in capsys.readouterr().err and not store.exists()
            assert main(["init", str(store), str(sweep), "--allow-large"]) == 0
            assert (store / "big" / "zarr.json").is_file()
            assert main(["init", str(store), str(sweep), "--overwrite", "--allow-large"]) == 0
    capsys.readouterr()


def test_a_cell_too_large_for_the_device_is_refused_with_the_planners_figure(tmp_path, capsys):
    sweep = tmp_path / "huge.toml"
    sweep.write_text(edit(tiny_sweep_text(name="huge"), "task.trials_per_cue", "2000000000"))
    assert main(["run", str(sweep), "--store", str(tmp_path / "huge.zarr"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "one cell needs" in err and "GiB" in err and "4,000,000,000 trials" in err
    assert not (tmp_path / "huge.zarr").exists()


def test_root_seeds_that_differ_in_their_high_bits_give_different_networks():
    low, high = (parse_sweep(tiny_sweep_text().replace("root_seed = 0", f"root_seed = {s}")) for s in (5, 2**32 + 5))
    assert not np.array_equal(low.keys(low.cells())[0], high.keys(high.cells())[0])
    assert np.array_equal(root_key(5), np.array([0, 5], np.uint32))  # = jax.random.PRNGKey(5): old stores keep their keys
    assert np.array_equal(root_key(2**64 - 1), np.array([2**32 - 1] * 2, np.uint32))


def test_the_real_cli_exits_2_without_a_traceback(tmp_path):
    sweep = tmp_path / "bad.toml"
    sweep.write_text(edit(tiny_sweep_text(), "model.noise_std", "inf"))
    proc = run_cli("run", sweep, "--store", tmp_path / "out.zarr", "--quiet")
    assert proc.returncode == 2 and "model.noise_std" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.zarr").exists()


def test_infinity_is_accepted_only_where_the_default_means_no_limit():
    sweep = parse_sweep(edit(tiny_sweep_text(), "train.stop_loss_above", "inf"))
    assert sweep.train.stop_loss_above == math.inf


# --- the store: never half-made, never lost to a bad sweep -------------------------------------------
@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    sweep = folder / "one.toml"
    sweep.write_text(tiny_sweep_text(name="one", n_seeds=1, lrs="[0.4]", delays="[0.0]", epochs="2", chunk_epochs=2))
    assert main(["run", str(sweep), "--store", str(folder / "one.zarr"), "--quiet"]) == 0
    return folder


@pytest.fixture
def finished_store(tmp_path, trained_once):
    """A real one-cell store, trained (a copy per test)."""
    import shutil

    shutil.copy(trained_once / "one.toml", tmp_path / "one.toml")
    shutil.copytree(trained_once / "one.zarr", tmp_path / "one.zarr")
    return tmp_path / "one.toml", tmp_path / "one.zarr"


def status_of(store):
    from rnnsweep import store as zstore

    return zstore.read_status(zstore.open_group(store, "one"))


def test_overwrite_with_a_failing_sweep_keeps_the_old_results(finished_store, capsys):
    sweep, store = finished_store
    before = status_of(store).copy()
    assert (before == 1).all()
    for setting, value in (("grid.seed", "[0, 4294967296]"), ("task.trials_per_cue", "2000000000")):
        sweep.write_text(edit(sweep.read_text(), setting, value))
        assert main(["run", str(sweep), "--store", str(store), "--overwrite", "--quiet"]) == 2
        assert np.array_equal(status_of(store), before)
        sweep.write_text(tiny_sweep_text(name="one", n_seeds=1, lrs="[0.4]", delays="[0.0]", epochs="2",
                                         chunk_epochs=2))
    assert sorted(p.name for p in store.iterdir() if p.name.startswith(".")) == []
    capsys.readouterr()


def test_a_failure_while_creating_leaves_nothing_behind(tmp_path, finished_store, monkeypatch):
    from rnnsweep import store as zstore
    from rnnsweep.runner import create_store

    sweep, store = finished_store
    before = status_of(store).copy()
    real_fill = zstore._fill

    def failing_fill(group, *args):
        real_fill(group, *args)  # every array written, then the disk "fills up"
        raise OSError(28, "No space left on device", str(group.store))

    monkeypatch.setattr(zstore, "_fill", failing_fill)
    parsed = parse_sweep(sweep.read_text())
    with pytest.raises(zstore.StoreError, match="No space left"):
        create_store(tmp_path / "new.zarr", parsed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.toml", "one.zarr"]  # no new store, no leftovers
    with pytest.raises(zstore.StoreError, match="No space left"):
        create_store(store, parsed, overwrite=True)
    assert np.array_equal(status_of(store), before)  # the old results survive a failed --overwrite
    assert sorted(p.name for p in store.iterdir() if p.name.startswith(".")) == []
    assert zstore.sweep_names(store) == ["one"]


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root may write anywhere")
def test_a_read_only_folder_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    sweep = tmp_path / "s.toml"
    sweep.write_text(tiny_sweep_text())
    try:
        assert main(["run", str(sweep), "--store", str(folder / "s.zarr"), "--quiet"]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        folder.chmod(0o700)


def test_records_go_through_unique_temporary_files(tmp_path):
    import json

    from rnnsweep.store import write_json_atomically

    target = tmp_path / "part-0-of-2.json"
    for i in range(3):
        write_json_atomically(target, [i])
    assert json.loads(target.read_text()) == [2] and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_every_shipped_sweep_file_passes_the_limits_without_allow_large():
    from conftest import ROOT
    from rnnsweep.sweep import load_sweep

    for path in sorted((ROOT / "sweeps").glob("*.toml")):
        figures = limits.check_plan(load_sweep(path))
        assert figures["cells"] <= 31_500 and figures["store_bytes"] < 6e9, path.name


def test_a_flipped_bit_in_a_chunk_is_an_error_not_data(finished_store):
    from rnnsweep import store as zstore

    _, store = finished_store
    chunk = next(p for p in sorted((store / "one" / "param_W_rec").rglob("*")) if p.is_file() and p.name != "zarr.json")
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    with pytest.raises(Exception, match="(?i)checksum|zstd|decompress"):
        zstore.read(zstore.open_group(store, "one"), "param_W_rec")


# --- store faults: found by check (with the cell's coordinates), refused by analyze, repaired by --resume
def damage(store, kind):
    group = store / "one"
    if kind == "deleted loss chunk":
        chunk = next(p for p in sorted((group / "loss").rglob("*")) if p.is_file() and p.name != "zarr.json")
        chunk.unlink()
    elif kind == "deleted W_rec chunk":
        chunk = next(p for p in sorted((group / "param_W_rec").rglob("*")) if p.is_file() and p.name != "zarr.json")
        chunk.unlink()
    elif kind == "corrupted status chunk":
        chunk = next(p for p in sorted((group / "status").rglob("*")) if p.is_file() and p.name != "zarr.json")
        chunk.write_bytes(b"\x00garbage" * 4)
    elif kind == "garbage metadata":
        (group / "zarr.json").write_text("{not json")


@pytest.mark.parametrize("kind", ["deleted loss chunk", "deleted W_rec chunk", "corrupted status chunk"])
def test_a_damaged_store_is_reported_refused_and_repaired(finished_store, trained_once, kind, capsys):
    from rnnsweep import store as zstore

    sweep, store = finished_store
    damage(store, kind)
    assert main(["check", str(store)]) == 1
    out = capsys.readouterr().out
    assert "seed=0,lr=0.4,delay_ms=0" in out and "1 of 1 finished cells are damaged" in out, out
    assert main(["analyze", str(store), "--out", str(store.parent / "an"), "--quiet"]) == 2
    assert "damaged" in capsys.readouterr().err and not (store.parent / "an").exists()
    # --resume finds the damage itself, returns the unit to pending and retrains it
    assert main(["run", str(sweep), "--store", str(store), "--resume", "--quiet"]) == 0
    assert "returned to pending" in capsys.readouterr().err
    assert main(["check", str(store)]) == 0
    capsys.readouterr()
    fresh, repaired = (zstore.open_group(p, "one") for p in (trained_once / "one.zarr", store))
    for name in ("status", "epochs_run", "loss", "accuracy", "param_W_rec", "param_W_out"):
        np.testing.assert_array_equal(zstore.read(fresh, name), zstore.read(repaired, name), err_msg=name)


def test_garbage_metadata_is_a_clear_error_everywhere(finished_store, capsys):
    sweep, store = finished_store
    damage(store, "garbage metadata")
    for argv in (["check", str(store)], ["info", str(store)], ["analyze", str(store), "--quiet"],
                 ["run", str(sweep), "--store", str(store), "--resume", "--quiet"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "zarr.json" in err and "Traceback" not in err, (argv, err)


# --- concurrency: one process per part -----------------------------------------------------------------
def test_a_part_held_by_a_live_process_is_refused_and_a_stale_lock_is_taken_over(finished_store, capsys):
    import json
    import os
    import socket
    import subprocess

    sweep, store = finished_store
    folder = store / "one" / "_parts"
    lock = folder / "run.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(), "started": "now"}))
    assert main(["run", str(sweep), "--store", str(store), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"pid {os.getppid()}" in err and "already training" in err
    (folder / "part-1-of-2.lock").write_text(lock.read_text())
    lock.unlink()
    assert main(["run", str(sweep), "--store", str(store), "--resume", "--quiet"]) == 2  # a part runs: no whole run
    assert "part-1-of-2.lock" in capsys.readouterr().err
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / "part-1-of-2.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    assert main(["run", str(sweep), "--store", str(store), "--resume", "--quiet"]) == 0  # stale: taken over
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".lock") == []  # and released at the end
    capsys.readouterr()


def test_resume_refuses_another_seeds_per_chunk(tmp_path, capsys):
    # the chunks are the units that parts own; a store's chunking cannot change under it
    sweep = tmp_path / "s.toml"
    sweep.write_text(tiny_sweep_text())
    assert main(["init", str(tmp_path / "s.zarr"), str(sweep)]) == 0
    sweep.write_text(edit(tiny_sweep_text(), "run.seeds_per_chunk", "1"))
    assert main(["run", str(sweep), "--store", str(tmp_path / "s.zarr"), "--resume", "--quiet"]) == 2
    assert "run.seeds_per_chunk: the store's chunks hold 2 seeds" in capsys.readouterr().err


# --- checkpoints: a kill during the checkpoint write leaves the previous one usable ---------------------
def test_a_torn_checkpoint_write_leaves_the_previous_checkpoint_usable(tmp_path):
    import itertools
    import shutil

    from rnnsweep import store as zstore
    from rnnsweep.runner import run_sweep

    text = tiny_sweep_text(name="one", n_seeds=1, lrs="[0.4]", delays="[0.0]", epochs="40", chunk_epochs=10)
    sweep = parse_sweep(text.replace("[run]", "[run]\ncheckpoint_minutes = 0.0"))
    quiet = dict(progress=False, log=lambda s: None)
    run_sweep(sweep, tmp_path / "full.zarr", **quiet)
    calls = itertools.count()
    with pytest.raises(KeyboardInterrupt):  # asked to stop at the second chunk boundary
        run_sweep(sweep, tmp_path / "cut.zarr", stop_requested=lambda: next(calls) >= 1, **quiet)
    folder = tmp_path / "cut.zarr" / "one" / "_checkpoints"
    (saved,) = folder.glob("*.npz")
    shutil.copytree(tmp_path / "cut.zarr", tmp_path / "torn.zarr")
    # a kill during the next write leaves a partial temporary file beside the last checkpoint
    (folder / f".{saved.name}.999-deadbeef.tmp").write_bytes(saved.read_bytes()[:100])
    # and a checkpoint that cannot be read is ignored: that block starts over
    torn = tmp_path / "torn.zarr" / "one" / "_checkpoints" / saved.name
    torn.write_bytes(torn.read_bytes()[:100])
    logs = []
    for name, log in (("cut.zarr", logs.append), ("torn.zarr", logs.append)):
        report = run_sweep(sweep, tmp_path / name, resume=True, progress=False, log=log)
        assert report.cells_trained == 1
    assert any("continued from checkpoints" in line for line in logs)
    assert any("ignoring the" in line and "checkpoint" in line for line in logs)
    full = zstore.open_group(tmp_path / "full.zarr", "one")
    for name in ("cut.zarr", "torn.zarr"):
        group = zstore.open_group(tmp_path / name, "one")
        for array in ("status", "epochs_run", "loss", "accuracy", "param_W_rec"):
            np.testing.assert_array_equal(zstore.read(full, array), zstore.read(group, array), err_msg=f"{name} {array}")


def test_resume_keeps_the_recorded_blocks_whatever_block_size_it_is_given(tmp_path):
    import itertools

    from rnnsweep import store as zstore
    from rnnsweep.runner import run_sweep

    # one chunk per block: the stop lands between blocks, with no checkpoint to continue
    sweep = parse_sweep(tiny_sweep_text(epochs="3", chunk_epochs=3, lrs="[0.5, 0.1]", block_size=4))
    run_sweep(sweep, tmp_path / "full.zarr", progress=False, log=lambda s: None)
    calls = itertools.count()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, tmp_path / "cut.zarr", stop_requested=lambda: next(calls) >= 1, progress=False,
                  log=lambda s: None)
    logs = []
    run_sweep(sweep, tmp_path / "cut.zarr", resume=True, block_size=1, progress=False, log=logs.append)
    assert any("1 blocks as the run that started this store formed them" in line for line in logs), logs
    assert any("4 to train in 1 blocks" in line for line in logs), logs  # block size 1 alone would give 2
    full, cut = (zstore.open_group(tmp_path / n, "tiny") for n in ("full.zarr", "cut.zarr"))
    for array in ("status", "epochs_run", "loss", "accuracy", "param_W_rec", "param_W_out"):
        np.testing.assert_array_equal(zstore.read(full, array), zstore.read(cut, array), err_msg=array)


def test_a_requeued_slurm_job_takes_over_its_own_lock_from_another_host(finished_store, monkeypatch, capsys):
    import json

    sweep, store = finished_store
    lock = store / "one" / "_parts" / "run.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_text(json.dumps({"host": "node-that-died", "pid": 4242, "job": "777_3"}))
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "778")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert main(["run", str(sweep), "--store", str(store), "--resume", "--quiet"]) == 2  # another job: refused
    assert "host node-that-died pid 4242" in capsys.readouterr().err
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "777")  # the same job, requeued on another node
    assert main(["run", str(sweep), "--store", str(store), "--resume", "--quiet"]) == 0
    assert not lock.exists()
    capsys.readouterr()


def test_a_write_error_names_the_path_and_leaves_the_cells_pending(finished_store, monkeypatch, capsys):
    from rnnsweep import store as zstore

    sweep, store = finished_store

    def full_disk(group, *args):
        raise OSError(28, "No space left on device", str(store / "one" / "loss"))

    monkeypatch.setattr(zstore, "write_block", full_disk)
    assert main(["run", str(sweep), "--store", str(store), "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(store / "one" / "loss") in err and "--resume" in err
    assert (zstore.read_status(zstore.open_group(store, "one")) == 0).all()
