"""Model families. Every module in this folder is imported, so a new family is one new file."""

from ..registry import import_package_modules
from .base import AbstractModel, Params, families, get_family, register

import_package_modules(__name__, __path__, skip=("base",))

__all__ = ["AbstractModel", "Params", "families", "get_family", "register"]
