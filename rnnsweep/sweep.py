"""Sweep files: parsing and validation, cell enumeration, PRNG keys, blocking.

A sweep file (TOML) names the grid axes and the fixed settings; see the README's "Sweep files"
section for the format. :func:`load_sweep` validates everything before any work starts and raises
:class:`SweepError` with a message that names the offending field.

Cells are the points of the grid. A *unit* is the set of cells that share every coordinate but the
seed (cut into ``run.seeds_per_chunk`` pieces); it is one chunk of every store array along the grid
axes, so blocks, made of whole units, never share a chunk. Blocks group units of equal (or, within
``run.max_padding``, similar) trial length and epoch budget.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
import tomllib
import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .models import ModelFamily, get_family
from .tasks import TIMING_FIELDS, TaskConfig, Timing
from .train import DTYPES, MATMUL_PRECISIONS, CellHyper, TrainConfig
from .optim import OPTIMIZERS

AXES = ("seed", "lr") + TIMING_FIELDS
TOP_LEVEL = ("name", "description", "root_seed", "model", "task", "train", "grid", "run")
EPOCH_RULE_NAMES = {"lr"} | set(TIMING_FIELDS)
EPOCH_RULE_FUNCS = {"max": max, "min": min, "ceil": math.ceil, "floor": math.floor, "int": int, "round": round}


class SweepError(ValueError):
    """A sweep file is invalid; the message names the field."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    block_size: int | str = "auto"  # cells per block, or "auto" (from available memory)
    max_padding: float = 0.25  # padded work a block may add, as a fraction of its real work
    seeds_per_chunk: int = 0  # 0 = all seeds in one chunk


@dataclasses.dataclass(frozen=True)
class Cell:
    index: tuple[int, ...]  # position in the grid, in axis order
    coords: dict[str, float]
    timing: Timing
    n_epochs: int


@dataclasses.dataclass(frozen=True)
class Unit:
    """Cells sharing every coordinate but the seed: one chunk along the grid axes."""

    index: tuple[int | slice, ...]  # store selection (a slice on the seed axis)
    cells: tuple[Cell, ...]
    n_steps: int
    n_epochs: int


@dataclasses.dataclass(frozen=True)
class Block:
    units: tuple[Unit, ...]
    n_steps_max: int
    n_epochs_max: int

    @property
    def cells(self) -> list[Cell]:
        return [c for u in self.units for c in u.cells]

    @property
    def n_cells(self) -> int:
        return sum(len(u.cells) for u in self.units)

    @property
    def network_epochs(self) -> int:
        return sum(c.n_epochs for c in self.cells)


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    root_seed: int
    model: ModelFamily
    task: TaskConfig
    train: TrainConfig
    run: RunConfig
    axes: dict[str, np.ndarray]  # in grid order
    epochs_rule: str
    text: str  # the sweep file as written
    fixed_lr: float | None = None  # train.lr, when lr is not a grid axis

    # --- the grid -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axes.values())

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape))

    @property
    def seed_axis(self) -> int:
        return list(self.axes).index("seed")

    def coords_at(self, index: tuple[int, ...]) -> dict[str, float]:
        return {name: values[i].item() for (name, values), i in zip(self.axes.items(), index)}

    def cell(self, index: tuple[int, ...]) -> Cell:
        coords = self.coords_at(index)
        return Cell(index, coords, self.timing_at(coords), epochs_for(self.epochs_rule, self.cell_settings(coords)))

    def timing_at(self, coords: dict[str, float]) -> Timing:
        """Step counts of the cell at these coordinates."""
        settings = self.cell_settings(coords)
        return self.task.timing(settings["delay_ms"], settings["response_ms"], settings["post_ms"])

    def cell_settings(self, coords: dict[str, float]) -> dict[str, float]:
        """lr and durations of a cell: its coordinates over the fixed settings."""
        settings = {f: getattr(self.task, f) for f in TIMING_FIELDS}
        settings["lr"] = self.fixed_lr
        settings.update({k: v for k, v in coords.items() if k in TIMING_FIELDS or k == "lr"})
        return settings

    def cells(self) -> list[Cell]:
        return [self.cell(ix) for ix in itertools.product(*(range(n) for n in self.shape))]

    @property
    def max_epochs(self) -> int:
        return max(c.n_epochs for c in self.cells())

    @property
    def seeds_per_chunk(self) -> int:
        n_seeds = len(self.axes["seed"])
        return n_seeds if self.run.seeds_per_chunk in (0, None) else min(self.run.seeds_per_chunk, n_seeds)

    def chunk_shape(self) -> tuple[int, ...]:
        return tuple(self.seeds_per_chunk if name == "seed" else 1 for name in self.axes)

    def units(self) -> list[Unit]:
        s_ax, n_seeds, per = self.seed_axis, len(self.axes["seed"]), self.seeds_per_chunk
        other = [range(n) if i != s_ax else [None] for i, n in enumerate(self.shape)]
        units = []
        for ix in itertools.product(*other):
            for s0 in range(0, n_seeds, per):
                seeds = range(s0, min(s0 + per, n_seeds))
                cells = tuple(self.cell(ix[:s_ax] + (s,) + ix[s_ax + 1 :]) for s in seeds)
                sel = ix[:s_ax] + (slice(seeds.start, seeds.stop),) + ix[s_ax + 1 :]
                units.append(Unit(sel, cells, int(cells[0].timing.n_steps), cells[0].n_epochs))
        return units

    # --- keys -----------------------------------------------------------------------------
    def keys(self, cells: list[Cell]) -> tuple[np.ndarray, np.ndarray]:
        """(init_keys, data_keys), uint32 (n, 2). The init key depends on the root seed and the cell's
        seed only, so a seed gives the same initial network everywhere in the grid (paired design);
        the data key also folds in the cell's other coordinate *values* (not indices), so a cell's
        result does not depend on the rest of the grid."""
        root = jax.random.PRNGKey(self.root_seed)
        seeds = np.array([int(c.coords["seed"]) for c in cells], dtype=np.uint32)
        tags = np.array([coordinate_tag(c.coords) for c in cells], dtype=np.uint32)
        init = jax.vmap(lambda s: jax.random.fold_in(root, s))(seeds)
        data = jax.vmap(jax.random.fold_in)(init, tags)
        return np.asarray(init), np.asarray(data)

    def hypers(self, cells: list[Cell]) -> CellHyper:
        """Stacked per-cell hyperparameters for the trainer."""
        init, data = self.keys(cells)
        dtype = np.dtype(self.train.dtype)
        lr = np.array([self.cell_settings(c.coords)["lr"] for c in cells], dtype=dtype)
        timing = Timing(*(np.array([getattr(c.timing, f) for c in cells], dtype=np.int32) for f in Timing._fields))
        n_epochs = np.array([c.n_epochs for c in cells], dtype=np.int32)
        args = [self.model.cell_args(c.coords, c.timing) for c in cells]
        model_args = {name: np.array([a[name] for a in args], dtype=dtype) for name in (args[0] if args else {})}
        return CellHyper(lr, timing, n_epochs, init, data, model_args)

    # --- blocks ---------------------------------------------------------------------------
    def blocks(self, block_size: int, units: list[Unit] | None = None) -> list[Block]:
        """Pack units into blocks of at most ``block_size`` cells (at least one unit each).

        Units are sorted by (trial length, epoch budget); a unit joins the current block while the
        block's padded work (cells x max steps x max epochs) stays within ``1 + max_padding`` times
        its real work."""
        units = sorted(self.units() if units is None else units, key=lambda u: (u.n_steps, u.n_epochs))
        blocks: list[list[Unit]] = []
        for unit in units:
            if blocks:
                cand = blocks[-1] + [unit]
                n_cells = sum(len(u.cells) for u in cand)
                padded = n_cells * max(u.n_steps for u in cand) * max(u.n_epochs for u in cand)
                real = sum(len(u.cells) * u.n_steps * u.n_epochs for u in cand)
                if n_cells <= block_size and padded <= (1 + self.run.max_padding) * real:
                    blocks[-1] = cand
                    continue
            blocks.append([unit])
        return [
            Block(tuple(b), max(u.n_steps for u in b), max(u.n_epochs for u in b)) for b in blocks
        ]

    def canonical(self) -> dict[str, Any]:
        """What defines the results (for --resume compatibility): settings and grid, not run tuning."""
        return {
            "name": self.name,
            "root_seed": self.root_seed,
            "model": {"family": self.model.family, **dataclasses.asdict(self.model)},
            "task": dataclasses.asdict(self.task),
            "train": {k: v for k, v in dataclasses.asdict(self.train).items() if k != "chunk_epochs"},
            "epochs_rule": self.epochs_rule,
            "axes": {k: [float(x) for x in v] for k, v in self.axes.items()},
        }


def coordinate_tag(coords: dict[str, float]) -> int:
    """A 32-bit tag of a cell's non-seed coordinate values."""
    text = ";".join(f"{k}={float(v)!r}" for k, v in sorted(coords.items()) if k != "seed")
    return zlib.crc32(text.encode())


# --- the epoch rule ---------------------------------------------------------------------------
def check_epoch_rule(rule: str) -> None:
    """Allow arithmetic on numbers, the names lr/delay_ms/response_ms/post_ms and max/min/ceil/floor/int/round."""
    try:
        tree = ast.parse(rule, mode="eval")
    except SyntaxError as e:
        raise SweepError(f"train.epochs: not a valid expression: {rule!r} ({e.msg})") from None
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call, ast.Load,
               ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Pow, ast.USub, ast.UAdd, ast.Mod)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise SweepError(f"train.epochs: {type(node).__name__} is not allowed in the epoch rule {rule!r}")
        if isinstance(node, ast.Name) and node.id not in EPOCH_RULE_NAMES | set(EPOCH_RULE_FUNCS):
            raise SweepError(
                f"train.epochs: unknown name {node.id!r} in {rule!r} (allowed: {', '.join(sorted(EPOCH_RULE_NAMES))})"
            )
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in EPOCH_RULE_FUNCS):
            raise SweepError(f"train.epochs: only {', '.join(EPOCH_RULE_FUNCS)} may be called in {rule!r}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise SweepError(f"train.epochs: only numbers may appear in {rule!r}")


def epochs_for(rule: str, settings: dict[str, float]) -> int:
    """Epoch budget of a cell: the rule's value truncated with ``int()`` as in the reference."""
    value = eval(compile(ast.parse(rule, mode="eval"), "<epochs>", "eval"), {"__builtins__": {}},
                 {**EPOCH_RULE_FUNCS, **settings})
    return int(value + 1e-9)


# --- parsing ----------------------------------------------------------------------------------
def _axis_values(name: str, spec: Any) -> np.ndarray:
    field = f"grid.{name}"
    if name == "seed":
        if isinstance(spec, int) and not isinstance(spec, bool):
            if spec < 1:
                raise SweepError(f"{field}: the number of seeds must be >= 1, got {spec}")
            return np.arange(spec)
        if isinstance(spec, list) and spec and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in spec):
            if len(set(spec)) != len(spec):
                raise SweepError(f"{field}: seeds must be distinct")
            return np.array(spec)
        raise SweepError(f"{field}: give the number of seeds (an integer >= 1) or a non-empty list of seeds >= 0")
    if isinstance(spec, list):
        values = spec
    elif isinstance(spec, dict):
        known = {"logspace", "linspace", "values", "first"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise SweepError(f"{field}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(known))})")
        kinds = [k for k in ("logspace", "linspace", "values") if k in spec]
        if len(kinds) != 1:
            raise SweepError(f"{field}: give exactly one of logspace = [start, stop, num], linspace = [...], values = [...]")
        kind = kinds[0]
        arg = spec[kind]
        if kind == "values":
            values = arg
        else:
            if (not isinstance(arg, list) or len(arg) != 3 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in arg)
                    or not isinstance(arg[2], int) or arg[2] < 1):
                raise SweepError(f"{field}.{kind}: must be [start, stop, num] with num a positive integer, got {arg!r}")
            fn = np.logspace if kind == "logspace" else np.linspace
            values = fn(float(arg[0]), float(arg[1]), arg[2]).tolist()
        if "first" in spec:
            first = spec["first"]
            if not isinstance(first, int) or isinstance(first, bool) or first < 1:
                raise SweepError(f"{field}.first: must be a positive integer, got {first!r}")
            values = values[:first]
    else:
        raise SweepError(f"{field}: must be a list of values or a table like {{logspace = [-1, -3, 15]}}")
    if not isinstance(values, list) or not values:
        raise SweepError(f"{field}: the axis is empty")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise SweepError(f"{field}: values must be numbers")
    arr = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise SweepError(f"{field}: values must be finite")
    if name == "lr" and np.any(arr <= 0):
        raise SweepError(f"{field}: learning rates must be > 0, got {arr[arr <= 0][0]}")
    if name in TIMING_FIELDS and np.any(arr < 0):
        raise SweepError(f"{field}: durations must be >= 0 ms, got {arr[arr < 0][0]}")
    if len(np.unique(arr)) != len(arr):
        raise SweepError(f"{field}: values must be distinct")
    return arr


def _table(doc: dict, key: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise SweepError(f"{key}: must be a table ([{key}])")
    return dict(value)


def _build_dataclass(cls, table: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise SweepError(f"{where}.{unknown[0]}: unknown setting (allowed: {', '.join(sorted(fields))})")
    for name, value in table.items():
        default = fields[name].default
        expected = type(default)
        ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok, table[name] = True, float(value)
        if expected is str and name == "epochs" and isinstance(value, (int, float)) and not isinstance(value, bool):
            ok, table[name] = True, repr(value)
        if name == "block_size":
            ok = value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
            if not ok:
                raise SweepError(f"{where}.block_size: must be \"auto\" or a positive integer, got {value!r}")
        if not ok:
            raise SweepError(f"{where}.{name}: must be of type {expected.__name__}, got {value!r}")
    return cls(**table)


def parse_sweep(text: str, source: str = "<sweep>") -> Sweep:
    """Parse and validate sweep-file text. Raises :class:`SweepError` naming the field."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{source}: not valid TOML: {e}") from None
    unknown = sorted(set(doc) - set(TOP_LEVEL))
    if unknown:
        raise SweepError(f"{unknown[0]}: unknown top-level key (allowed: {', '.join(TOP_LEVEL)})")
    name = doc.get("name")
    if not isinstance(name, str) or not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise SweepError(f"name: required, letters/digits/_/- only, got {name!r}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise SweepError("description: must be a string")
    root_seed = doc.get("root_seed", 0)
    if not isinstance(root_seed, int) or isinstance(root_seed, bool) or root_seed < 0:
        raise SweepError(f"root_seed: must be an integer >= 0, got {root_seed!r}")

    grid = _table(doc, "grid")
    model_table = _table(doc, "model")
    family = model_table.pop("family", "leaky_rnn")
    if not isinstance(family, str):
        raise SweepError("model.family: must be a string")
    try:
        family_cls = get_family(family)
    except ValueError as e:
        raise SweepError(str(e)) from None
    allowed_axes = AXES + family_cls.cell_axes
    if "seed" not in grid:
        raise SweepError("grid.seed: required (the number of seeds, or a list of seeds)")
    for axis in grid:
        if axis not in allowed_axes:
            raise SweepError(f"grid.{axis}: not a sweepable axis (allowed: {', '.join(allowed_axes)})")
    axes = {axis: _axis_values(axis, spec) for axis, spec in grid.items()}
    for axis in family_cls.cell_axes:
        if axis in axes and axis in model_table:
            raise SweepError(f"model.{axis}: also given as grid axis grid.{axis}; give it in one place")

    task_table = _table(doc, "task")
    for axis in axes:
        if axis in task_table:
            raise SweepError(f"task.{axis}: also given as grid axis grid.{axis}; give it in one place")
    try:
        task = _build_dataclass(TaskConfig, task_table, "task")
        task.validate()
    except SweepError:
        raise
    except ValueError as e:
        raise SweepError(str(e)) from None

    try:
        model = family_cls.from_settings(
            model_table, n_inputs=task.n_inputs, n_outputs=task.n_outputs, dt_ms=task.dt_ms
        )
    except TypeError as e:
        raise SweepError(f"model: {e}") from None
    except ValueError as e:
        raise SweepError(str(e)) from None

    train_table = _table(doc, "train")
    lr_fixed = train_table.pop("lr", None)
    if "lr" in axes and lr_fixed is not None:
        raise SweepError("train.lr: also given as grid axis grid.lr; give it in one place")
    if "lr" not in axes:
        if not isinstance(lr_fixed, (int, float)) or isinstance(lr_fixed, bool) or lr_fixed <= 0:
            raise SweepError("train.lr: required (a number > 0) when lr is not a grid axis")
    train = _build_dataclass(TrainConfig, train_table, "train")
    if train.optimizer not in OPTIMIZERS:
        raise SweepError(f"train.optimizer: must be one of {OPTIMIZERS}, got {train.optimizer!r}")
    if train.dtype not in DTYPES:
        raise SweepError(f"train.dtype: must be one of {DTYPES}, got {train.dtype!r}")
    if train.matmul_precision not in MATMUL_PRECISIONS:
        raise SweepError(f"train.matmul_precision: must be one of {MATMUL_PRECISIONS}, got {train.matmul_precision!r}")
    if train.chunk_epochs < 1:
        raise SweepError(f"train.chunk_epochs: must be >= 1, got {train.chunk_epochs}")
    for f in ("momentum", "weight_decay"):
        if getattr(train, f) < 0:
            raise SweepError(f"train.{f}: must be >= 0, got {getattr(train, f)}")
    if not train.max_param_abs > 0:
        raise SweepError(f"train.max_param_abs: must be > 0, got {train.max_param_abs}")
    check_epoch_rule(train.epochs)

    run_table = _table(doc, "run")
    run = _build_dataclass(RunConfig, run_table, "run")
    if run.max_padding < 0:
        raise SweepError(f"run.max_padding: must be >= 0, got {run.max_padding}")
    if run.seeds_per_chunk < 0:
        raise SweepError(f"run.seeds_per_chunk: must be >= 0, got {run.seeds_per_chunk}")

    sweep = Sweep(
        name=name, description=description, root_seed=root_seed, model=model, task=task, train=train,
        run=run, axes=axes, epochs_rule=train.epochs, text=text, fixed_lr=None if lr_fixed is None else float(lr_fixed),
    )
    # Every cell's durations must be whole steps and usable by the task; every budget >= 1 epoch.
    timing_axes = [a for a in axes if a in TIMING_FIELDS or a == "lr"]
    for combo in itertools.product(*(axes[a] for a in timing_axes)):
        settings = sweep.cell_settings(dict(zip(timing_axes, (float(x) for x in combo))))
        try:
            task.check_timing(settings["delay_ms"], settings["response_ms"], settings["post_ms"], tuple(axes))
        except ValueError as e:
            raise SweepError(str(e)) from None
        try:
            n_epochs = epochs_for(train.epochs, settings)
        except (ZeroDivisionError, OverflowError, TypeError, ValueError) as e:
            raise SweepError(f"train.epochs: cannot evaluate {train.epochs!r} at {settings}: {e}") from None
        if n_epochs < 1:
            raise SweepError(f"train.epochs: the rule {train.epochs!r} gives {n_epochs} epochs at {settings}")
    return sweep


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such sweep file")
    return parse_sweep(path.read_text(), source=str(path))
