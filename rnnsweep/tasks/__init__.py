"""Tasks. Every module in this folder is imported, so a new task is one new file (see base.py)."""

from ..registry import import_package_modules
from .base import AbstractTask, Timing, TimingError, Trials, get_task, register, tasks

import_package_modules(__name__, __path__, skip=("base",))

__all__ = ["AbstractTask", "Timing", "TimingError", "Trials", "get_task", "register", "tasks"]
