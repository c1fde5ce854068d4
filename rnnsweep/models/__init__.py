"""Model families. Every module in this folder is imported, so a new family is one new file."""

import importlib
import pkgutil

from .base import ModelFamily, Params, families, register

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")


def get_family(name: str) -> type[ModelFamily]:
    known = families()
    if name not in known:
        raise ValueError(f"model.family: unknown family {name!r} (known: {', '.join(sorted(known))})")
    return known[name]


__all__ = ["ModelFamily", "Params", "families", "get_family", "register"]
