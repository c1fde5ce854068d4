"""Settings tables of a sweep file -> frozen settings objects, with errors that name the field.

Model families, tasks and the ``[train]``/``[run]`` tables are frozen dataclasses whose fields have
defaults; model families and tasks subclass :class:`Settings`, which makes every subclass a frozen
dataclass without a decorator. :func:`build` makes one from a TOML table: unknown keys, wrong types
and impossible values raise ``ValueError("<table>.<field>: ...")``. Every float must be finite
(``inf`` only where the default is ``inf``, meaning "no limit"), integers must fit int32 and strings
:data:`limits.MAX_STRING_CHARS`. :func:`describe` lists a class's settings and defaults, for
``rnnsweep list``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping

from . import limits

SCALAR_TYPES = (bool, int, float, str)


class Settings:
    """Base of plug-in classes whose annotated class attributes are their settings: every subclass
    becomes a frozen dataclass (hashable, immutable, ``dataclasses.fields`` lists the settings).
    ``ClassVar`` annotations are class-level declarations, not settings.

    ``settings_added`` names the settings added after stores were already written with the class,
    where the value that reproduces those stores differs from the new default (e.g. a scoring window
    whose default changed): a stored configuration that lacks such a setting means that value, not
    the default (:func:`stored_settings`)."""

    settings_added: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)


def fields(cls) -> dict[str, dataclasses.Field]:
    """The settings of a class: its init fields with their defaults."""
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def stored_settings(cls, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored settings table completed for today's ``cls``: a setting the store lacks takes the
    value it had before it was added (``cls.settings_added``), else its default."""
    table = {name: default(f) for name, f in fields(cls).items() if default(f) is not dataclasses.MISSING}
    table.update(getattr(cls, "settings_added", {}))
    table.update(stored)
    return table


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_type(where: str, value: Any, expected: type, allow_inf: bool = False) -> Any:
    """``value`` as an ``expected`` scalar (an int is accepted for a float) within the limits every
    setting shares: floats finite (``inf`` only where ``allow_inf``; NaN never), integers within
    int32, strings of at most ``limits.MAX_STRING_CHARS`` characters; else ValueError."""
    if expected is float and is_number(value):
        value = float(value)
        if math.isnan(value) or (math.isinf(value) and not (allow_inf and value > 0)):
            raise ValueError(f"{where}: must be a finite number{' or inf' if allow_inf else ''}, got {value!r}")
        return value
    if isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool):
        if expected is int and abs(value) > limits.MAX_INT_SETTING:
            raise ValueError(f"{where}: {value} is out of range (at most {limits.MAX_INT_SETTING:,} in magnitude)")
        if expected is str and len(value) > limits.MAX_STRING_CHARS:
            raise ValueError(f"{where}: {len(value)} characters, at most {limits.MAX_STRING_CHARS}")
        return value
    raise ValueError(f"{where}: must be of type {expected.__name__}, got {value!r}")


def build(cls, table: Mapping[str, Any], where: str, fixed: Mapping[str, Any] | None = None,
          untyped: tuple[str, ...] = ()):
    """``cls(**table, **fixed)`` after checking names and types; then ``validate()`` if it has one.

    ``fixed`` are fields that come from elsewhere (a model's input and output sizes come from the
    task) and may not appear in the table; ``untyped`` fields skip the type check (the class's
    ``validate`` checks them)."""
    fixed = dict(fixed or {})
    known = fields(cls)
    allowed = sorted(set(known) - set(fixed))
    for key in table:
        if key not in allowed:
            raise ValueError(f"{where}.{key}: unknown setting (allowed: {', '.join(allowed)})")
    values = {}
    for key, value in table.items():
        initial = default(known[key])
        expected = type(initial)
        if key not in untyped and expected in SCALAR_TYPES:  # a setting whose default is inf means "no limit"
            value = check_type(f"{where}.{key}", value, expected, allow_inf=initial == math.inf)
        values[key] = value
    obj = cls(**values, **fixed)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate()
    return obj


def as_dict(obj) -> dict[str, Any]:
    """The settings of an object, by field name (JSON-friendly scalars)."""
    return {name: getattr(obj, name) for name in fields(type(obj))}


def describe(cls, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{field: default}`` of a settings class, JSON-friendly (``inf`` as "inf", nested settings as
    dicts, tuples as lists)."""
    return {name: _plain(default(field)) for name, field in fields(cls).items() if name not in skip}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def positive(where: str, value: Any, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite positive (or non-negative) number."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) if integer else is_number(value)
    if ok:
        ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        kind = "integer" if integer else "number"
        sign = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{where}: must be a {sign} {kind}, got {value!r}")


def one_of(where: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{where}: must be one of {choices}, got {value!r}")
