"""rnnsweep: a JAX-vectorized sweep engine for massive RNN ensembles."""

__version__ = "0.1.0"
