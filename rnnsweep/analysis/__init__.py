"""Analysis of stored sweeps: plug-ins that turn a store into classes, scaling laws, figures and a report.

Every module in this folder is imported, so an analysis is one new file with an ``@register``ed
:class:`Analysis` (see base.py and docs/plugins.md). Built in: ``classes`` (learning classes and the
SP/LC mechanism of every network), ``scaling`` (critical delays, power laws, phase diagram),
``dynamics`` (slow and fixed points; opt-in), ``geometry`` (serial recall's feature geometry),
``search_phase`` (search-phase lengths and gradient alignment) and ``learnability`` (fraction learned
and the critical learning rate against another axis).

Importable pieces: :func:`analyze` (what ``rnnsweep analyze`` runs), :func:`classify_sweep` and
:func:`combine` (per-cell classes as numpy arrays), :func:`fit_study` (the power laws) and
:func:`to_xarray` (a labelled Dataset of a :class:`Classified`, when xarray is installed). The
analysis reads stores through :mod:`rnnsweep.store` and imports no training code.
"""

from ..registry import import_package_modules
from .base import Analysis, Context, Result, analyses, register
from .classes import classify_sweep, combine
from .classify import CLASS_NAMES, Classified, Thresholds, learning_classes, stability
from .conditions import CONDITIONS, FitConfig
from .fitting import power_law
from .mechanism import MechanismConfig, mechanism_index_from_rates, mechanism_measures
from .report import analyze
from .scaling import fit_study
from .study import Source, Study

import_package_modules(__name__, __path__)


def to_xarray(result: Classified):
    """The per-cell results as an ``xarray.Dataset`` (needs the ``xarray`` extra)."""
    import xarray as xr

    return xr.Dataset(
        {"classes": (result.dims, result.classes), "mechanism_index": (result.dims, result.mechanism_index),
         "output_rms": (result.dims, result.output_rms), "status": (result.dims, result.status)},
        coords=result.coords, attrs={"class_names": list(CLASS_NAMES), "sources": result.sources},
    )


__all__ = ["CLASS_NAMES", "CONDITIONS", "Analysis", "Classified", "Context", "FitConfig", "MechanismConfig",
           "Result", "Source", "Study", "Thresholds", "analyses", "analyze", "classify_sweep", "combine", "fit_study",
           "learning_classes", "mechanism_index_from_rates", "mechanism_measures", "power_law", "register",
           "stability", "to_xarray"]
