"""Analysis of stored sweeps: classes, mechanism index, scaling laws, figures, reports.

Importable pieces: :func:`classify_sweep` and :func:`combine` (per-cell results as numpy arrays),
:func:`fit_study` (the power laws), :func:`analyze` (everything, as ``rnnsweep analyze`` does) and
:func:`to_xarray` (a labelled Dataset of a :class:`Classified`, when xarray is installed).
"""

from .classify import CLASS_NAMES, Thresholds, learning_classes, stability
from .mechanism import MechanismConfig, mechanism_index_from_rates, mechanism_measures
from .report import analyze
from .results import Classified, classify_sweep, combine
from .scaling import power_law
from .study import FitConfig, fit_study


def to_xarray(result: Classified):
    """The per-cell results as an ``xarray.Dataset`` (needs the ``xarray`` extra)."""
    import xarray as xr

    return xr.Dataset(
        {"classes": (result.dims, result.classes), "mechanism_index": (result.dims, result.mechanism_index),
         "output_rms": (result.dims, result.output_rms), "status": (result.dims, result.status)},
        coords=result.coords, attrs={"class_names": list(CLASS_NAMES), "sources": result.sources},
    )


__all__ = ["CLASS_NAMES", "Classified", "FitConfig", "MechanismConfig", "Thresholds", "analyze", "classify_sweep",
           "combine", "fit_study", "learning_classes", "mechanism_index_from_rates", "mechanism_measures",
           "power_law", "stability", "to_xarray"]
