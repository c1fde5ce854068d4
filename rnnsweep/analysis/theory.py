"""Critical learning rates of the toy models: closed forms, numerical measurement, exponents,
and the theory phase diagram. Derivations: docs/theory.md.

Plain gradient descent ``r <- r - eta dL/dr`` on a kinked loss bounces around the optimum ``r*``;
it gets stuck for good once a step lands in the flat no-learning zone. The largest safe step is the
one from just above ``r*``, which gives

* SP (ghost, ``L = |T_d - t_e|``): ``eta_c = (pi^4 / 8) (1/T_d^2 - 1/(T_d+T_r)^2) / T_d^3``, i.e.
  ``3 pi^4 / (32 T^5)`` for ``T_r = T_d = T``, and ``3 pi^4 / (32 T^4)`` for the loss divided by ``T``;
* LC (``L = (1/T_d) int out + (1/T_r) int (1 - out)``, ``T_r <= T_d``):
  ``eta_c = (r* - r0) / g`` with ``r* - r0 = T_r / (2 T_d (T_d + T_r))`` and the slope just above
  ``r*``, ``g = 2 T_d`` for ``T_r < T_d`` or ``2 T_d + 4 T_d^2 / T_r`` for ``T_r = T_d`` (the cycle
  then also ends inside the response window): ``T_r T_d^-3 / 4`` for ``T_r << T_d``,
  ``1 / (24 T^2)`` for ``T_r = T_d = T``.

:func:`measure_critical_lr` finds eta_c numerically: the smallest rate whose gradient descent, from
``init_ratio * r*``, ends in the no-learning zone within ``n_epochs``, with autodiff gradients of
the model's own loss, by a vmapped scan over a log grid of rates refined by bisection. The default
start just above the optimum measures the stability of a learned solution, which is what the closed
forms describe. From further away (say ``1.5 r*``) the bouncing iterates reach the critical point
later or not at all: the SP threshold moves by 1-3%, the LC one by up to 2x (docs/theory.md).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..models.scalar_toy import AbstractScalarToy
from ..models.toy_lc import CycleLC
from ..models.toy_sp import GhostSP
from .fitting import PowerLaw, power_law


def sp_critical_lr(t_d, t_r=None, normalize: bool = False):
    t_r = t_d if t_r is None else t_r
    eta = (math.pi**4 / 8) * (1 / np.square(t_d) - 1 / np.square(t_d + t_r)) / np.power(t_d, 3)
    return eta * t_d if normalize else eta


def lc_critical_lr(t_d, t_r=None, normalize: bool = False):
    t_d = np.asarray(t_d, float)
    t_r = t_d if t_r is None else np.asarray(t_r, float)
    if np.any(t_r > t_d):
        raise ValueError("the LC closed form needs T_r <= T_d (else the optimum has a non-zero loss)")
    slope = 2 * t_d + np.where(t_r >= t_d, 4 * np.square(t_d) / t_r, 0.0)
    eta = t_r / (2 * t_d * (t_d + t_r)) / slope
    return eta * t_d if normalize else eta


def closed_form(model: AbstractScalarToy, t_d: float, t_r: float) -> float:
    fn = sp_critical_lr if isinstance(model, GhostSP) else lc_critical_lr
    return float(fn(t_d, t_r, model.normalize))


def _stuck_fn(model: AbstractScalarToy, t_d: float, t_r: float, init_ratio: float, n_epochs: int):
    """jit(vmap): rates -> ended in the no-learning zone after ``n_epochs`` of gradient descent on the
    model's own training loss (:meth:`AbstractScalarToy.objective`)."""
    n_points = int(round((t_d + t_r) / model.euler_dt))
    grad = jax.grad(lambda r: model.objective(r, t_d, t_r, n_points))
    r_init = init_ratio * float(model.optimum(t_d, t_r))

    def run(eta):
        def step(r, _):
            return r - eta * grad(r), None
        r, _ = jax.lax.scan(step, jnp.float64(r_init), None, length=n_epochs)
        return ~model.learning(r, t_d, t_r)

    return jax.jit(jax.vmap(run))


def measure_critical_lr(model: AbstractScalarToy, t_d: float, t_r: float | None = None, init_ratio: float = 1 + 1e-6,
                        n_epochs: int = 3000, lo: float = 1e-16, hi: float = 1.0, points: int = 64,
                        rounds: int = 4) -> float:
    """Smallest learning rate (to about ``points**-rounds`` in log) that gets stuck."""
    t_r = t_d if t_r is None else t_r
    with jax.enable_x64(True):
        stuck = _stuck_fn(model, float(t_d), float(t_r), init_ratio, n_epochs)
        lo_l, hi_l = math.log(lo), math.log(hi)
        for _ in range(rounds):
            grid = np.exp(np.linspace(lo_l, hi_l, points))
            s = np.asarray(stuck(jnp.asarray(grid)))
            if not s.any():
                return float("nan")
            k = int(np.argmax(s))
            if k == 0:
                return float(grid[0])
            lo_l, hi_l = math.log(grid[k - 1]), math.log(grid[k])
    return float(math.exp(hi_l))


@dataclasses.dataclass
class Measurement:
    label: str
    model: str
    t_delay: np.ndarray
    measured: np.ndarray
    closed_form: np.ndarray
    law: PowerLaw | None
    expected_beta: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "model": self.model, "T": self.t_delay.tolist(), "measured": self.measured.tolist(),
                "closed_form": self.closed_form.tolist(), "beta": self.law.beta if self.law else None,
                "beta_se": self.law.beta_se if self.law else None, "expected_beta": self.expected_beta,
                "max_rel_error": float(np.max(np.abs(self.measured / self.closed_form - 1)))}


# The four cases of the theory: (label, model, response window rule, expected exponent).
CASES = (
    ("SP, raw loss, T_r = T", GhostSP(loss="analytic"), None, 5.0),
    ("SP, loss / T, T_r = T", GhostSP(loss="analytic", normalize=True), None, 4.0),
    ("LC, T_r = 1 << T", CycleLC(loss="analytic", response_equals_delay=False), 1.0, 3.0),
    ("LC, T_r = T", CycleLC(loss="analytic", response_equals_delay=True), None, 2.0),
)


def measure_cases(t_delays=(50.0, 100.0, 200.0, 400.0), n_epochs: int = 3000,
                  init_ratio: float = 1 + 1e-6) -> list[Measurement]:
    out = []
    t = np.asarray(t_delays, float)
    for label, model, t_r, beta in CASES:
        tr = t if t_r is None else np.full_like(t, t_r)
        measured = np.array([measure_critical_lr(model, a, b, init_ratio, n_epochs) for a, b in zip(t, tr)])
        closed = np.array([closed_form(model, a, b) for a, b in zip(t, tr)])
        out.append(Measurement(label, model.family, t, measured, closed, power_law(t, measured), beta))
    return out


def phase_diagram(t_range=(10.0, 1000.0), overlay: list[dict] | None = None):
    """SP and LC critical curves over (T_delay, lr) with ``T_r = T``, the three phases shaded;
    optional measured boundaries of full-RNN analyses (``summary.json`` dicts of ``rnnsweep
    analyze``) as points. The losses are commensurate, both O(1): the SP loss divided by ``T``
    (``3 pi^4 / (32 T^4)``) and the LC loss, already per duration (``1 / (24 T^2)``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.geomspace(*t_range, 200)
    sp = sp_critical_lr(t, t, normalize=True)
    lc = lc_critical_lr(t, t)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    lo, hi = min(sp.min(), lc.min()) / 30, max(sp.max(), lc.max()) * 30
    ax.fill_between(t, lo, np.minimum(sp, lc), color="tab:green", alpha=0.25, label="SP and LC learnable")
    ax.fill_between(t, np.minimum(sp, lc), lc, where=lc > sp, color="tab:red", alpha=0.25, label="LC only")
    ax.fill_between(t, np.maximum(sp, lc), hi, color="tab:blue", alpha=0.2, label="nothing learned")
    ax.loglog(t, sp, "g-", lw=2, label="SP: eta_c = 3 pi^4 / (32 T^4)  (loss |T - t_e| / T)")
    ax.loglog(t, lc, "r-", lw=2, label="LC: eta_c = 1 / (24 T^2)  (per-duration loss)")
    for summary in overlay or []:
        fits = (summary.get("fits") or {})
        points = fits.get("points", {})
        lrs = np.array(fits.get("lr", []), float)
        for key, marker, label in (("critical_delay", "o", "RNN learning boundary"), ("sp_boundary", "s", "RNN SP boundary")):
            if key in points:
                vals = np.array([np.nan if v is None else v for v in points[key]], float)
                ok = np.isfinite(vals)
                ax.loglog(vals[ok], lrs[ok], marker, mfc="none", label=f"{label} ({summary.get('study')}, T in ms)")
    ax.set_xlim(*t_range)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("delay T")
    ax.set_ylabel("critical learning rate")
    ax.set_title("Theory phase diagram (T_resp = T)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def write_report(out, t_delays=(50.0, 100.0, 200.0, 400.0), overlay: list[dict] | None = None,
                 n_epochs: int = 3000) -> list[Measurement]:
    """Measure the four cases, write theory.json, theory.md and the phase diagram (PNG, PDF)."""
    import json
    from pathlib import Path

    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = measure_cases(t_delays, n_epochs)
    (out / "theory.json").write_text(json.dumps([c.to_dict() for c in cases], indent=2))
    lines = ["# Critical learning rates of the toy models", "",
             "Measured: bisection on plain gradient descent (autodiff gradients, float64) started just above the "
             "optimum; closed form: docs/theory.md.", "",
             "| case | T | measured eta_c | closed form | rel. error |", "|---|---|---|---|---|"]
    for c in cases:
        for t, m, f in zip(c.t_delay, c.measured, c.closed_form):
            lines.append(f"| {c.label} | {t:g} | {m:.6g} | {f:.6g} | {m / f - 1:+.2e} |")
    lines += ["", "| case | fitted beta | std. error | theory |", "|---|---|---|---|"]
    for c in cases:
        lines.append(f"| {c.label} | {c.law.beta:.4f} | {c.law.beta_se:.2g} | {c.expected_beta:g} |")
    lines += ["", "![theory phase diagram](theory_phase_diagram.png)", ""]
    (out / "theory.md").write_text("\n".join(lines))
    fig = phase_diagram(overlay=overlay)
    for ext in ("png", "pdf"):
        fig.savefig(out / f"theory_phase_diagram.{ext}", dpi=130 if ext == "png" else None)
    plt.close(fig)
    return cases
