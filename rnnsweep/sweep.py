"""Sweep files: parsing and validation, the grid, its cells and their PRNG keys.

A sweep file (TOML) names the grid axes and the fixed settings; see the README's "Sweep files"
section for the format. :func:`load_sweep` validates everything before any work starts and raises
:class:`SweepError` with a message that names the offending field. The grid's axes are ``seed``,
``lr``, the task's sweepable durations and cell axes, the model family's cell axes and the regularisers'
strengths (``lambda_tcr``, ...). How cells are grouped into
store chunks and compiled blocks is :mod:`rnnsweep.schedule`.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import itertools
import json
import math
import operator
import tomllib
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import limits, settings
from .models import AbstractModel, families, get_family
from .regularizers import AbstractRegularizer, get_regularizer, regularizers
from .tasks import AbstractTask, Timing, get_task
from .train import TrainConfig

TOP_LEVEL = ("name", "description", "root_seed", "model", "task", "train", "regularize", "grid", "run")
EPOCH_RULE_FUNCS = {"max": max, "min": min, "ceil": math.ceil, "floor": math.floor, "int": int, "round": round}


class SweepError(ValueError):
    """A sweep file is invalid; the message names the field."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How the grid is cut into store chunks and compiled blocks, and what the store keeps besides
    the results (the ``[run]`` table). Only ``snapshot_every`` changes what the store holds (it is in
    the sweep's canonical form); the rest does not change the results."""

    block_size: int | str = "auto"  # cells per block, or "auto" (from available memory)
    max_padding: float = 0.25  # padded work a block may add, as a fraction of its real work
    seeds_per_chunk: int = 0  # 0 = all seeds in one chunk
    checkpoint_minutes: float = 10.0  # save a block in flight at most this often (0: at every chunk)
    snapshot_every: int = 0  # store every cell's parameters every K epochs (0: none)

    def validate(self) -> None:
        if not (self.block_size == "auto" or (isinstance(self.block_size, int) and not isinstance(self.block_size, bool)
                                              and self.block_size >= 1)):
            raise ValueError(f'run.block_size: must be "auto" or a positive integer, got {self.block_size!r}')
        settings.positive("run.max_padding", self.max_padding, allow_zero=True)
        settings.positive("run.seeds_per_chunk", self.seeds_per_chunk, integer=True, allow_zero=True)
        settings.positive("run.checkpoint_minutes", self.checkpoint_minutes, allow_zero=True)
        settings.positive("run.snapshot_every", self.snapshot_every, integer=True, allow_zero=True)


@dataclasses.dataclass(frozen=True)
class Cell:
    index: tuple[int, ...]  # position in the grid, in axis order
    coords: dict[str, float]
    timing: Timing
    n_steps: int
    n_epochs: int


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    root_seed: int
    model: AbstractModel
    task: AbstractTask
    train: TrainConfig
    run: RunConfig
    axes: dict[str, np.ndarray]  # in grid order
    epochs_rule: str
    text: str  # the sweep file as written
    fixed_lr: float | None = None  # train.lr, when lr is not a grid axis
    regularizers: tuple[AbstractRegularizer, ...] = ()  # the [regularize.<name>] tables and strength axes

    def strengths_at(self, coords: dict[str, float]) -> dict[str, float]:
        """Each regulariser's strength at a cell: its grid coordinate, else its ``strength`` setting."""
        return {r.name: float(coords[r.axis]) if r.axis in coords else float(r.strength) for r in self.regularizers}

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
        timing = self.timing_at(coords)
        return Cell(index, coords, timing, int(self.task.n_steps(timing)),
                    epochs_for(self.epochs_rule, self.cell_settings(coords)))

    def timing_at(self, coords: dict[str, float]) -> Timing:
        """Step counts of the cell at these coordinates (computed once per combination of durations)."""
        durations = tuple((k, float(v)) for k, v in coords.items()
                          if k in self.task.durations or k in self.task.cell_axes)
        return dict(_timing(self.task, durations, tuple(self.axes)))

    def cell_settings(self, coords: dict[str, float]) -> dict[str, float]:
        """lr and the task's sweepable durations at a cell: the names an epoch rule may use."""
        durations = self.task.durations_at(coords)
        out = {name: durations[name] for name in self.task.axes}
        out["lr"] = float(coords["lr"]) if "lr" in coords else self.fixed_lr
        return out

    def cells(self) -> list[Cell]:
        return [self.cell(ix) for ix in itertools.product(*(range(n) for n in self.shape))]

    @property
    def max_epochs(self) -> int:
        return max(c.n_epochs for c in self.cells())

    def snapshot_epochs(self, n_epochs: int) -> np.ndarray:
        """The epochs 0, K, 2K, ... <= ``n_epochs`` at which the parameters are snapshotted (K =
        ``run.snapshot_every``); empty when snapshots are off."""
        every = self.run.snapshot_every
        return np.arange(0, n_epochs + 1, every, dtype=np.int32) if every else np.zeros(0, np.int32)

    # --- keys -----------------------------------------------------------------------------
    def keys(self, cells: list[Cell]) -> tuple[np.ndarray, np.ndarray]:
        """(init_keys, data_keys), uint32 (n, 2). The init key depends on the root seed and the cell's
        seed only, so a seed gives the same initial network everywhere in the grid (paired design);
        the data key also folds in the cell's other coordinate *values* (not indices), so a cell's
        result does not depend on the rest of the grid."""
        root = jnp.asarray(root_key(self.root_seed))
        seeds = np.array([int(c.coords["seed"]) for c in cells], dtype=np.uint32)
        tags = np.array([coordinate_tag(c.coords) for c in cells], dtype=np.uint32)
        init = jax.vmap(lambda s: jax.random.fold_in(root, s))(seeds)
        data = jax.vmap(jax.random.fold_in)(init, tags)
        return np.asarray(init), np.asarray(data)

    def canonical(self) -> dict[str, Any]:
        """What defines the results and what the store keeps (for --resume compatibility): settings,
        grid and snapshots, not run tuning."""
        out = {
            "name": self.name,
            "root_seed": self.root_seed,
            "model": model_config(self.model),
            "task": task_config(self.task),
            "train": {k: v for k, v in dataclasses.asdict(self.train).items() if k != "chunk_epochs"},
            "epochs_rule": self.epochs_rule,
            "axes": {k: [float(x) for x in v] for k, v in self.axes.items()},
            "run": {"snapshot_every": self.run.snapshot_every},
        }
        if self.regularizers:  # absent without regularisers: the stored form of older stores
            out["regularize"] = {r.name: settings.as_dict(r) for r in self.regularizers}
        return out


@functools.lru_cache(maxsize=4096)
def _timing(task: AbstractTask, durations: tuple[tuple[str, float], ...], grid_axes: tuple[str, ...]):
    return task.timing(dict(durations), grid_axes)


# Entries of the canonical form added after stores were made, with the values that describe those
# stores (a store without snapshots): a stored form that lacks one has that value.
CANONICAL_ADDED = {"run": {"snapshot_every": 0}}


class Difference(NamedTuple):
    """One way a stored sweep differs: a setting ``key`` ("model.noise_rng") with both values, or a
    whole entry ("axes", "epochs_rule") with ``setting`` False."""

    key: str
    stored: Any
    current: Any
    setting: bool

    def __str__(self) -> str:
        return f"{self.key} (store: {self.stored!r}, sweep file: {self.current!r})" if self.setting else self.key


def sweep_differences(sweep: Sweep, stored: dict[str, Any]) -> list[Difference]:
    """How a stored sweep's canonical form differs from ``sweep``'s. A model or task setting the
    stored form lacks (one added to rnnsweep after the store was made) counts as the value it had
    before (:func:`settings.stored_settings`), and so does an entry of :data:`CANONICAL_ADDED`, so
    such a store still resumes when the sweep asks for what the store was trained with."""
    current = json.loads(json.dumps(sweep.canonical(), sort_keys=True))
    stored = dict(stored)
    for part, before in CANONICAL_ADDED.items():
        if isinstance(stored.get(part, {}), dict):
            stored[part] = {**before, **stored.get(part, {})}
    for part, cls in (("model", type(sweep.model)), ("task", type(sweep.task))):
        if isinstance(stored.get(part), dict):
            stored[part] = json.loads(json.dumps(settings.stored_settings(cls, stored[part]), sort_keys=True))
    out = []
    for k in sorted(set(stored) | set(current)):
        old, new = stored.get(k), current.get(k)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and k != "axes":  # name the setting and both values
            out += [Difference(f"{k}.{f}", old.get(f), new.get(f), True)
                    for f in sorted(set(old) | set(new)) if old.get(f) != new.get(f)]
        else:
            out.append(Difference(k, old, new, False))
    return out


def model_config(model: AbstractModel) -> dict[str, Any]:
    """A model family's settings in canonical form (stored; the analysis rebuilds the model from it)."""
    return {"family": model.family, **settings.as_dict(model)}


def task_config(task: AbstractTask) -> dict[str, Any]:
    return {"name": task.name, **settings.as_dict(task)}


def root_key(root_seed: int) -> np.ndarray:
    """The root PRNG key (uint32[2]) of a root seed in [0, 2**64): its high and low 32-bit words, so
    every bit counts (for seeds below 2**32 this is ``jax.random.PRNGKey(root_seed)``)."""
    return np.array([(root_seed >> 32) & 0xFFFFFFFF, root_seed & 0xFFFFFFFF], dtype=np.uint32)


def coordinate_tag(coords: dict[str, float]) -> int:
    """A 32-bit tag of a cell's non-seed coordinate values."""
    text = ";".join(f"{k}={float(v)!r}" for k, v in sorted(coords.items()) if k != "seed")
    return zlib.crc32(text.encode())


# --- the epoch rule ---------------------------------------------------------------------------
# An epoch rule is evaluated by walking its syntax tree in float arithmetic (never by eval): only
# numbers, lr and the task's sweepable durations, + - * / // % **, and these functions.
EPOCH_RULE_FUNCS = {"max": max, "min": min, "ceil": math.ceil, "floor": math.floor, "int": int, "round": round}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def check_epoch_rule(rule: str, names: set[str]) -> None:
    """Allow arithmetic on numbers, ``names`` (lr and the task's sweepable durations) and
    max/min/ceil/floor/int/round, within the size limits of :mod:`rnnsweep.limits`."""
    if len(rule) > limits.MAX_STRING_CHARS:
        raise SweepError(f"train.epochs: the rule has {len(rule)} characters (at most {limits.MAX_STRING_CHARS})")
    try:
        tree = ast.parse(rule, mode="eval")
    except SyntaxError as e:
        raise SweepError(f"train.epochs: not a valid expression: {_shown(rule)} ({e.msg})") from None
    except (RecursionError, MemoryError):
        raise SweepError(f"train.epochs: the rule is nested too deeply (at most {limits.EPOCH_RULE_MAX_DEPTH} levels)") from None
    nodes, depth, stack = 0, 0, [(tree, 1)]
    while stack:  # iterative, so a deep tree cannot exhaust the stack
        node, level = stack.pop()
        nodes, depth = nodes + 1, max(depth, level)
        if nodes > limits.EPOCH_RULE_MAX_NODES or depth > limits.EPOCH_RULE_MAX_DEPTH:
            raise SweepError(f"train.epochs: the rule is too large (at most {limits.EPOCH_RULE_MAX_NODES} terms "
                             f"and {limits.EPOCH_RULE_MAX_DEPTH} levels of nesting): {_shown(rule)}")
        _check_rule_node(node, rule, names)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))


def _shown(rule: str) -> str:
    return repr(rule if len(rule) <= 80 else rule[:77] + "...")


def _check_rule_node(node: ast.AST, rule: str, names: set[str]) -> None:
    rule = _shown(rule)
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call, ast.Load,
               *_BINARY, *_UNARY)
    if not isinstance(node, allowed):
        raise SweepError(f"train.epochs: {type(node).__name__} is not allowed in the epoch rule {rule}")
    if isinstance(node, ast.Name) and node.id not in names | set(EPOCH_RULE_FUNCS):
        raise SweepError(f"train.epochs: unknown name {node.id!r} in {rule} (allowed: {', '.join(sorted(names))})")
    if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in EPOCH_RULE_FUNCS
                                           and node.args and not node.keywords):
        raise SweepError(f"train.epochs: only {', '.join(EPOCH_RULE_FUNCS)} may be called, with positional "
                         f"arguments, in {rule}")
    if isinstance(node, ast.Constant):
        if not settings.is_number(node.value):
            raise SweepError(f"train.epochs: only numbers may appear in {rule}")
        if not abs(node.value) <= limits.EPOCH_RULE_MAX_NUMBER:
            raise SweepError(f"train.epochs: the number {node.value!r} is out of range "
                             f"(at most {limits.EPOCH_RULE_MAX_NUMBER:g}) in {rule}")


def epochs_for(rule: str, values: dict[str, float]) -> int:
    """Epoch budget of a cell: the rule's value truncated with ``int()`` as in the reference. Raises
    ``ValueError`` (or ``ZeroDivisionError``/``OverflowError``) where the value is not a usable number."""
    return _epochs(rule, tuple(sorted(values.items())))


@functools.lru_cache(maxsize=4096)
def _epochs(rule: str, values: tuple[tuple[str, float], ...]) -> int:
    try:
        value = _evaluate(_parsed_rule(rule).body, dict(values))
    except OverflowError:
        raise OverflowError("the value is too large") from None
    if not math.isfinite(value):
        raise OverflowError(f"the value is {value}")
    if int(value + 1e-9) > limits.MAX_EPOCHS:
        raise OverflowError(f"{value:g} epochs is above the limit of {limits.MAX_EPOCHS:,}")
    return int(value + 1e-9)


def _evaluate(node: ast.AST, env: dict[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(env[node.id])
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, env))
    if isinstance(node, ast.BinOp):
        value = _BINARY[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
        if isinstance(value, complex):  # a negative number to a fractional power
            raise ValueError("a negative number raised to a fractional power")
        return float(value)
    if isinstance(node, ast.Call):
        return float(EPOCH_RULE_FUNCS[node.func.id](*(_evaluate(a, env) for a in node.args)))
    raise ValueError(f"{type(node).__name__} is not allowed")


@functools.lru_cache(maxsize=64)
def _parsed_rule(rule: str) -> ast.Expression:
    return ast.parse(rule, mode="eval")


# --- parsing ----------------------------------------------------------------------------------
def _axis_length(field: str, n: int) -> None:
    if n > limits.MAX_AXIS_VALUES:
        raise SweepError(f"{field}: {n:,} values, at most {limits.MAX_AXIS_VALUES:,} per axis")


def _axis_values(name: str, spec: Any) -> np.ndarray:
    field = f"grid.{name}"
    if name == "seed":
        if isinstance(spec, int) and not isinstance(spec, bool):
            if spec < 1:
                raise SweepError(f"{field}: the number of seeds must be >= 1, got {spec}")
            _axis_length(field, spec)
            return np.arange(spec)
        if isinstance(spec, list) and spec and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in spec):
            _axis_length(field, len(spec))
            if max(spec) > limits.MAX_SEED:
                raise SweepError(f"{field}: seeds must be below 2**32 (they are folded into the key as uint32), "
                                 f"got {max(spec)}")
            if len(set(spec)) != len(spec):
                raise SweepError(f"{field}: seeds must be distinct")
            return np.array(spec, dtype=np.int64)
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
            if (not isinstance(arg, list) or len(arg) != 3 or not all(settings.is_number(x) for x in arg)
                    or not isinstance(arg[2], int) or arg[2] < 1 or not all(math.isfinite(x) for x in arg[:2])):
                raise SweepError(f"{field}.{kind}: must be [start, stop, num] with finite ends and num a positive "
                                 f"integer, got {arg!r}")
            _axis_length(f"{field}.{kind}", arg[2])
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
    _axis_length(field, len(values))
    if not all(settings.is_number(v) for v in values):
        raise SweepError(f"{field}: values must be numbers")
    arr = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise SweepError(f"{field}: values must be finite")
    if name == "lr" and np.any(arr <= 0):
        raise SweepError(f"{field}: learning rates must be > 0, got {arr[arr <= 0][0]}")
    if name.endswith("_ms") and np.any(arr < 0):
        raise SweepError(f"{field}: durations must be >= 0 ms, got {arr[arr < 0][0]}")
    ordered = np.sort(arr)
    close = np.abs(np.diff(ordered)) <= 1e-9 * np.maximum(np.abs(ordered[1:]), np.abs(ordered[:-1]))
    if np.any(close):
        twin = float(ordered[1:][close][0])
        raise SweepError(f"{field}: values must be distinct (to 9 significant digits), {twin!r} appears twice")
    return arr


def _table(doc: dict, key: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise SweepError(f"{key}: must be a table ([{key}])")
    return dict(value)


def _build(cls, table: dict, where: str, **kwargs):
    try:
        return settings.build(cls, table, where, **kwargs)
    except TypeError as e:  # a value the class cannot take at all
        raise SweepError(f"{where}: {e}") from None
    except ValueError as e:
        raise SweepError(str(e)) from None


def _cell_axis_settings(cls, table: dict, axes: dict[str, np.ndarray], where: str,
                        fixed: dict | None = None) -> dict[str, Any]:
    """Check every grid value of ``cls``'s cell axes (the settings built with that value must be
    valid; an integer setting takes whole numbers only) and return the settings the static object is
    built with: a size axis at its largest grid value (each cell masks down to its own)."""
    static = {}
    for axis in cls.cell_axes:
        if axis not in axes:
            continue
        kind = type(settings.default(settings.fields(cls)[axis]))
        values = []
        for value in axes[axis]:
            if kind is int:
                if value != int(value):
                    raise SweepError(f"grid.{axis}: values must be whole numbers, got {float(value)!r}")
                value = int(value)
            try:
                settings.build(cls, {**table, axis: value}, where, fixed=fixed)
            except (TypeError, ValueError) as e:
                raise SweepError(str(e).replace(f"{where}.{axis}:", f"grid.{axis}:", 1)) from None
            values.append(value)
        if axis in cls.size_axes:
            static[axis] = max(values)
    return static


def _plugin(table: dict, key: str, default: str, lookup, where: str):
    name = table.pop(key, default)
    if not isinstance(name, str):
        raise SweepError(f"{where}.{key}: must be a string")
    try:
        return lookup(name)
    except ValueError as e:
        raise SweepError(str(e)) from None


def _regularizers(table: dict, axes: dict[str, np.ndarray], reg_axes: dict[str, str],
                  model: AbstractModel) -> tuple[AbstractRegularizer, ...]:
    """The regularisers of a sweep: one per ``[regularize.<name>]`` table, and one (default settings)
    per strength axis without a table; their strengths on the grid must be >= 0."""
    names = list(table) + [reg_axes[a] for a in axes if a in reg_axes and reg_axes[a] not in table]
    out = []
    for name in names:
        sub = table.get(name, {})
        if not isinstance(sub, dict):
            raise SweepError(f"regularize.{name}: must be a table ([regularize.{name}])")
        cls = _plugin({"name": name}, "name", name, get_regularizer, "regularize")
        if cls.axis in axes:
            if "strength" in sub:
                raise SweepError(f"regularize.{name}.strength: also given as grid axis grid.{cls.axis}; "
                                 f"give it in one place")
            if np.any(axes[cls.axis] < 0):
                raise SweepError(f"grid.{cls.axis}: strengths must be >= 0, got {float(axes[cls.axis].min())!r}")
        if model.has_own_loss:
            raise SweepError(f"regularize.{name}: family {model.family!r} is trained on its own analytic loss, "
                             f"which takes no regulariser")
        reg = _build(cls, sub, f"regularize.{name}")
        try:
            reg.check_model(model)
        except ValueError as e:
            raise SweepError(str(e)) from None
        out.append(reg)
    return tuple(out)


def parse_sweep(text: str, source: str = "<sweep>") -> Sweep:
    """Parse and validate sweep-file text. Raises :class:`SweepError` naming the field."""
    if len(text) > limits.MAX_TEXT_BYTES:
        raise SweepError(f"{source}: {len(text):,} characters; a sweep file may have at most {limits.MAX_TEXT_BYTES:,}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{source}: not valid TOML: {e}") from None
    unknown = sorted(set(doc) - set(TOP_LEVEL))
    if unknown:
        raise SweepError(f"{unknown[0]}: unknown top-level key (allowed: {', '.join(TOP_LEVEL)})")
    name = doc.get("name")
    if (not isinstance(name, str) or not name or len(name) > limits.MAX_NAME_CHARS or name.startswith((".", "-"))
            or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in name)):
        shown = name if not isinstance(name, str) or len(name) <= 40 else name[:40] + "..."
        raise SweepError(f"name: required, ASCII letters/digits/_/- only, not starting with - or ., at most "
                         f"{limits.MAX_NAME_CHARS} characters, got {shown!r}")
    description = doc.get("description", "")
    if not isinstance(description, str) or len(description) > limits.MAX_STRING_CHARS:
        raise SweepError(f"description: must be a string of at most {limits.MAX_STRING_CHARS} characters")
    root_seed = doc.get("root_seed", 0)
    if not isinstance(root_seed, int) or isinstance(root_seed, bool) or not 0 <= root_seed <= limits.MAX_ROOT_SEED:
        raise SweepError(f"root_seed: must be an integer in [0, 2**64), got {root_seed!r}")

    task_table, model_table, grid = _table(doc, "task"), _table(doc, "model"), _table(doc, "grid")
    task_cls = _plugin(task_table, "name", "dcd", get_task, "task")
    family_cls = _plugin(model_table, "family", "leaky_rnn", get_family, "model")

    reg_axes = {cls.axis: name for name, cls in regularizers().items()}
    allowed_axes = ("seed", "lr") + task_cls.axes + task_cls.cell_axes + family_cls.cell_axes + tuple(reg_axes)
    if "seed" not in grid:
        raise SweepError("grid.seed: required (the number of seeds, or a list of seeds)")
    for axis in grid:
        if axis not in allowed_axes:
            raise SweepError(f"grid.{axis}: not a sweepable axis of task {task_cls.name!r} and family "
                             f"{family_cls.family!r} (allowed: {', '.join(allowed_axes)})")
    axes = {axis: _axis_values(axis, spec) for axis, spec in grid.items()}
    n_cells = math.prod(len(v) for v in axes.values())
    if n_cells > limits.MAX_GRID_CELLS:
        raise SweepError(f"grid: {n_cells:,} cells, at most {limits.MAX_GRID_CELLS:,} in one sweep file")
    for table, where in ((task_table, "task"), (model_table, "model")):
        for axis in axes:
            if axis in table:
                raise SweepError(f"{where}.{axis}: also given as grid axis grid.{axis}; give it in one place")

    sized = [a for a in task_cls.size_axes if a in axes and len(axes[a]) > 1]
    if sized and not family_cls.masks_task_sizes:
        exact = ", ".join(n for n, c in families().items() if c.masks_task_sizes) or "none"
        raise SweepError(f"grid.{sized[0]}: changes the task's number of inputs or outputs, which family "
                         f"{family_cls.family!r} cannot mask exactly (its initial weights depend on those sizes); "
                         f"give it as a fixed setting ([task] {sized[0]} = ...) and run one sweep per value, or use "
                         f"a family that can ({exact})")
    task_table.update(_cell_axis_settings(task_cls, task_table, axes, "task"))
    task = _build(task_cls, task_table, "task")
    task_fixed = {"n_inputs": task.n_inputs, "n_outputs": task.n_outputs, "dt_ms": task.dt_ms}
    model_table.update(_cell_axis_settings(family_cls, model_table, axes, "model", task_fixed))
    model = _build(family_cls, model_table, "model", fixed=task_fixed)

    regs = _regularizers(_table(doc, "regularize"), axes, reg_axes, model)

    train_table = _table(doc, "train")
    lr_fixed = train_table.pop("lr", None)
    if "lr" in axes and lr_fixed is not None:
        raise SweepError("train.lr: also given as grid axis grid.lr; give it in one place")
    if "lr" not in axes:
        if not settings.is_number(lr_fixed) or not 0 < lr_fixed < math.inf:
            raise SweepError(f"train.lr: required (a finite number > 0) when lr is not a grid axis, got {lr_fixed!r}")
    epochs = train_table.get("epochs")
    if settings.is_number(epochs):
        if not (math.isfinite(epochs) and epochs == int(epochs)):
            raise SweepError(f"train.epochs: a number of epochs must be a whole number, got {epochs!r}")
        train_table["epochs"] = repr(int(epochs))
    train = _build(TrainConfig, train_table, "train")
    check_epoch_rule(train.epochs, {"lr"} | set(task.axes))
    run = _build(RunConfig, _table(doc, "run"), "run", untyped=("block_size",))

    sweep = Sweep(
        name=name, description=description, root_seed=root_seed, model=model, task=task, train=train,
        run=run, axes=axes, epochs_rule=train.epochs, text=text, fixed_lr=None if lr_fixed is None else float(lr_fixed),
        regularizers=regs,
    )
    # Every cell's durations must be whole steps and usable by the task; every budget >= 1 epoch.
    varied = [a for a in axes if a in task.axes or a in task.cell_axes or a == "lr"]
    longest = 0
    for combo in itertools.product(*(axes[a] for a in varied)):
        coords = dict(zip(varied, (float(x) for x in combo)))
        try:
            sweep.timing_at(coords)
        except ValueError as e:
            raise SweepError(str(e)) from None
        values = sweep.cell_settings(coords)
        try:
            n_epochs = epochs_for(train.epochs, values)
        except (ZeroDivisionError, OverflowError, TypeError, ValueError) as e:
            raise SweepError(f"train.epochs: cannot evaluate {train.epochs!r} at {values}: {e}") from None
        if n_epochs < 1:
            raise SweepError(f"train.epochs: the rule {train.epochs!r} gives {n_epochs} epochs at {values}")
        longest = max(longest, n_epochs)
    if "chunk_epochs" in train_table and train.chunk_epochs > longest:
        raise SweepError(f"train.chunk_epochs: {train.chunk_epochs} is more than the largest epoch budget of the "
                         f"sweep ({longest})")
    if run.snapshot_every > longest:
        raise SweepError(f"run.snapshot_every: {run.snapshot_every} is more than the largest epoch budget of the "
                         f"sweep ({longest}), so only the initial networks would be kept")
    return sweep


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such sweep file")
    if path.stat().st_size > limits.MAX_TEXT_BYTES:
        raise SweepError(f"{path}: {path.stat().st_size:,} bytes; a sweep file may have at most {limits.MAX_TEXT_BYTES:,}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise SweepError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    return parse_sweep(text, source=str(path))
