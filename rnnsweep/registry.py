"""Registries of plug-ins (model families, tasks, analyses) and the loading of outside plug-ins.

Each kind of plug-in has one :class:`Registry`, keyed by a class attribute (``family`` for models,
``name`` for tasks and analyses). A plug-in registers itself with the registry's ``register``
decorator when its module is imported. The modules of rnnsweep's own folders are imported by their
packages; outside plug-ins are imported by :func:`load_plugins` from

* ``--plugin PATH_OR_MODULE`` on the command line,
* the environment variable ``RNNSWEEP_PLUGINS`` (paths of ``.py`` files or module names, separated by
  ``os.pathsep``), and
* the entry points of group ``rnnsweep.plugins`` of installed packages,

so a model family, task or analysis defined in a file of one's own works with every command
without touching rnnsweep.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from typing import Generic, Iterable, TypeVar

T = TypeVar("T")

PLUGINS_ENV = "RNNSWEEP_PLUGINS"
ENTRY_POINT_GROUP = "rnnsweep.plugins"


class PluginError(ValueError):
    """An outside plug-in could not be loaded."""


class Registry(Generic[T]):
    """Named plug-in classes of one kind."""

    def __init__(self, kind: str, key: str, required: tuple[str, ...] = ()):
        self.kind, self.key, self.required = kind, key, required
        self._items: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: make ``cls`` available under ``getattr(cls, key)``, after checking that it
        declares the class attributes every plug-in of this kind must have."""
        name = getattr(cls, self.key, None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__name__}: a {self.kind} needs a class attribute {self.key} = '<name>'")
        missing = [attr for attr in self.required if not hasattr(cls, attr)]
        if missing:
            raise TypeError(f"{cls.__name__}: a {self.kind} needs the class attributes {', '.join(missing)}")
        known = self._items.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"{self.kind} {name!r} registered twice ({known.__qualname__}, {cls.__qualname__})")
        self._items[name] = cls  # re-importing the same module (e.g. a plug-in file) replaces it
        return cls

    def get(self, name: str, where: str) -> type[T]:
        load_plugins()
        if name not in self._items:
            raise ValueError(f"{where}: unknown {self.kind} {name!r} (known: {', '.join(sorted(self._items))}; "
                             f"a plug-in of your own is loaded with --plugin FILE or {PLUGINS_ENV})")
        return self._items[name]

    def all(self) -> dict[str, type[T]]:
        load_plugins()
        return dict(sorted(self._items.items()))


def import_package_modules(package: str, path: Iterable[str], skip: tuple[str, ...] = ()) -> None:
    """Import every module of a package folder (each plug-in file registers itself)."""
    import pkgutil

    for info in pkgutil.iter_modules(list(path)):
        if info.name not in skip and not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


_loaded: set[str] = set()


def load_plugins(extra: Iterable[str] = ()) -> None:
    """Import outside plug-ins: ``extra`` (paths or module names), then ``RNNSWEEP_PLUGINS``, then the
    ``rnnsweep.plugins`` entry points. Each is imported once per process."""
    specs = list(extra) + [s for s in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if s]
    for spec in specs:
        if spec not in _loaded:
            _loaded.add(spec)
            _import_spec(spec)
    if ENTRY_POINT_GROUP not in _loaded:
        _loaded.add(ENTRY_POINT_GROUP)
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            entry.load()


def _import_spec(spec: str) -> None:
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise PluginError(f"plug-in {spec}: no such file")
        name = f"rnnsweep_plugin_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path.resolve())
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            raise PluginError(f"plug-in {spec}: {type(e).__name__}: {e}") from e
    else:
        try:
            importlib.import_module(spec)
        except ImportError as e:
            raise PluginError(f"plug-in {spec}: cannot import it ({e})") from None
