"""JAX's persistent compilation cache, on by default for every rnnsweep command.

Every block shape of a sweep is one compiled program (5-15 s each on a GPU, more on a CPU); a rerun,
a ``--resume``, the parts of a cluster run and the next sweep with the same shapes load them from
disk instead. Where the cache lives, first match wins:

1. ``RNNSWEEP_COMPILE_CACHE``: a folder, or ``off`` to compile afresh every time;
2. ``JAX_COMPILATION_CACHE_DIR`` (JAX's own setting): left to JAX;
3. ``$XDG_CACHE_HOME/rnnsweep/jax`` (default ``~/.cache/rnnsweep/jax``).

A cached program is the compiled code itself, keyed by JAX on the program, the compiler version
and the device, so results are the same with and without the cache. Programs that compile in under
``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` (JAX's default 1 s) are not written.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "RNNSWEEP_COMPILE_CACHE"


def location(environ=os.environ) -> Path | None:
    """The folder the cache uses, or None when it is off (or left to JAX's own setting)."""
    chosen = environ.get(ENV, "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen).expanduser()
    if environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rnnsweep" / "jax"


def enable(environ=os.environ) -> Path | None:
    """Point JAX at :func:`location` (before anything compiles). Returns the folder, or None."""
    path = location(environ)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable home: compile as before rather than fail
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    return path
