"""What a sweep file may name: every registered model family, task, regulariser and analysis (``rnnsweep list``)."""

from __future__ import annotations

import inspect
from typing import Any

from . import settings
from .models import families
from .models.base import TASK_FIELDS
from .regularizers import regularizers
from .tasks import tasks

COMMON_AXES = ("seed", "lr")


def _doc(cls) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def catalog() -> dict[str, Any]:
    """``{"models": ..., "tasks": ..., "analyses": ...}``: each entry's settings (with defaults) and axes."""
    from .analysis import CONDITIONS, analyses

    models = {name: {"doc": _doc(cls), "settings": settings.describe(cls, skip=TASK_FIELDS),
                     "axes": list(cls.cell_axes), "from_task": list(TASK_FIELDS),
                     "mechanism": cls.mechanism, "module": cls.__module__}
              for name, cls in families().items()}
    task_entries = {}
    for name, cls in tasks().items():
        example = cls()
        task_entries[name] = {"doc": _doc(cls), "settings": settings.describe(cls), "axes": list(cls.axes) + list(cls.cell_axes),
                              "durations": list(cls.durations), "metrics": list(cls.metric_names),
                              "inputs": example.n_inputs, "outputs": example.n_outputs, "module": cls.__module__}
    reg_entries = {name: {"doc": _doc(cls), "axis": cls.axis, "settings": settings.describe(cls), "module": cls.__module__}
                   for name, cls in regularizers().items()}
    analysis_entries = {name: {"doc": cls.description, "requires": list(cls.requires), "uses": list(cls.uses), "default": cls.default,
                               "options": settings.describe(cls), "module": cls.__module__}
                        for name, cls in analyses().items()}
    conditions = {c.name: {"doc": c.description, "reference": {k: list(v) for k, v in c.reference.items()}}
                  for c in CONDITIONS}
    return {"grid": {"always": list(COMMON_AXES), "note": "plus the task's axes, the model family's axes and each regulariser's strength axis"},
            "models": models, "tasks": task_entries, "regularizers": reg_entries, "analyses": analysis_entries, "conditions": conditions}


def _settings_lines(values: dict[str, Any]) -> list[str]:
    width = max((len(k) for k in values), default=0)
    return [f"    {k:<{width}} = {v!r}" for k, v in values.items()]


def format_catalog(entries: dict[str, Any]) -> str:
    lines = ["Grid axes of every sweep: seed, lr; plus the task's, the model family's and the regularisers' axes below.", "",
             "MODEL FAMILIES ([model] family = ...)"]
    for name, m in entries["models"].items():
        axes = ", ".join(m["axes"]) or "none"
        lines += ["", f"  {name}: {m['doc']}", f"    grid axes: {axes}; from the task: {', '.join(m['from_task'])}"]
        lines += _settings_lines(m["settings"])
    lines += ["", "TASKS ([task] name = ...)"]
    for name, t in entries["tasks"].items():
        lines += ["", f"  {name}: {t['doc']}",
                  f"    grid axes: {', '.join(t['axes'])}; durations: {', '.join(t['durations'])}; "
                  f"metrics: {', '.join(t['metrics'])}; {t['inputs']} inputs, {t['outputs']} outputs"]
        lines += _settings_lines(t["settings"])
    lines += ["", "REGULARIZERS ([regularize.NAME] tables; the strength may be a grid axis)"]
    for name, r in entries["regularizers"].items():
        lines += ["", f"  {name}: {r['doc']}", f"    grid axis: {r['axis']} (the strength)"]
        lines += _settings_lines(r["settings"])
    lines += ["", "ANALYSES (rnnsweep analyze --only/--skip NAME)"]
    for name, a in entries["analyses"].items():
        req = f" (requires {', '.join(a['requires'])})" if a["requires"] else ""
        req += f" (uses {', '.join(a['uses'])} when it runs)" if a["uses"] else ""
        opt_in = "" if a["default"] else " [opt-in: runs only when named]"
        lines += ["", f"  {name}{req}{opt_in}: {a['doc']}"]
        lines += _settings_lines(a["options"])
    lines += ["", "CONDITIONS of the scaling analysis (rnnsweep analyze --condition NAME; default: from the store)", ""]
    width = max(len(n) for n in entries["conditions"])
    lines += [f"  {name:<{width}}  {c['doc']}" for name, c in entries["conditions"].items()]
    return "\n".join(lines)
