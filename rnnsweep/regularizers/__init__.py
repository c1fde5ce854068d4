"""Regularisers: penalties added to a task's loss, each with a per-cell strength that may be a grid
axis. Every module in this folder is imported, so a new regulariser is one new file (see base.py)."""

from ..registry import import_package_modules
from .base import AbstractRegularizer, get_regularizer, register, regularizers

import_package_modules(__name__, __path__, skip=("base",))

__all__ = ["AbstractRegularizer", "get_regularizer", "register", "regularizers"]
