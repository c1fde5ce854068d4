"""Figures of a study (matplotlib, Agg backend). Each function returns the Figure it drew."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .classify import CLASS_GROUPS, LC, SP, Classified, boundary_axis, fraction_table  # noqa: E402
from .fitting import StudyFits  # noqa: E402

CLASS_COLOURS = {"SP": "tab:green", "LC": "tab:red", "failed": "tab:blue"}


def _lr_other(result: Classified) -> str:
    if "lr" not in result.dims:
        raise ValueError(f"plots need an lr axis; got {result.dims}")
    return boundary_axis(result)


def _table(result: Classified, codes) -> np.ndarray:
    return fraction_table(result, codes, _lr_other(result))


def phase_diagram(result: Classified) -> plt.Figure:
    """RGB image over (lr, other axis): red = LC fraction, green = SP, blue = failed."""
    other = _lr_other(result)
    lrs, xs = result.coords["lr"], result.coords[other]
    rgb = np.stack([_table(result, CLASS_GROUPS[k]) for k in ("LC", "SP", "failed")], axis=-1)
    rgb = np.nan_to_num(rgb, nan=1.0)  # unfinished cells show white
    order = np.argsort(lrs)  # small learning rates at the bottom
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.imshow(rgb[order], origin="lower", aspect="auto", interpolation="nearest")
    xt = np.linspace(0, len(xs) - 1, min(len(xs), 6)).round().astype(int)
    yt = np.linspace(0, len(lrs) - 1, min(len(lrs), 6)).round().astype(int)
    ax.set_xticks(xt, [f"{xs[i]:g}" for i in xt])
    ax.set_yticks(yt, [f"{lrs[order][i]:.2g}" for i in yt])
    ax.set_xlabel(other.replace("_ms", " (ms)"))
    ax.set_ylabel("learning rate")
    ax.set_title(f"{result.name}: phase diagram (red LC, green SP, blue failed)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("red", "lime", "blue")]
    ax.legend(handles, ["LC", "SP", "failed"], loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def class_fractions(result: Classified) -> plt.Figure:
    """SP, LC and failed fraction vs the other axis, one curve per learning rate."""
    other = _lr_other(result)
    lrs, xs = result.coords["lr"], result.coords[other]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    colours = plt.cm.viridis(np.linspace(0, 1, len(lrs)))
    for ax, name in zip(axes, ("SP", "LC", "failed")):
        table = _table(result, CLASS_GROUPS[name])
        for i, lr in enumerate(lrs):
            ax.plot(xs, table[i], "o-", ms=3, color=colours[i], label=f"lr {lr:.2g}")
        ax.set_title(f"{name} fraction")
        ax.set_xlabel(other.replace("_ms", " (ms)"))
    axes[0].set_ylabel("fraction of networks")
    axes[0].set_ylim(-0.03, 1.03)
    axes[-1].legend(fontsize=7, ncol=1 + len(lrs) // 12, loc="best")
    fig.suptitle(result.name)
    fig.tight_layout()
    return fig


def scaling_plot(fits: StudyFits, name: str) -> plt.Figure:
    """Measured boundaries vs learning rate on log-log axes, with fit, 95% band and theory slopes."""
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    styles = {"learning_boundary": ("tab:blue", "critical delay (learning boundary)"),
              "sp_boundary": ("tab:green", "SP boundary"), "no_memory": ("tab:purple", "critical lr (no memory)")}
    anchor = None
    for key, law in fits.laws.items():
        if law is None:
            continue
        colour, label = styles[key]
        ax.loglog(law.x, law.y, "o", color=colour, label=f"{label}: beta = {law.beta:.2f} +- {law.beta_se:.2f}")
        xx = np.geomspace(law.x.min(), law.x.max(), 50)
        ax.loglog(xx, np.exp(law.log_a) * xx ** (-law.beta), "-", color=colour)
        if law.ci95:
            lo, hi = law.ci95
            mx = np.exp(np.mean(np.log(law.x)))
            my = np.exp(law.log_a) * mx ** (-law.beta)
            band = [my * (xx / mx) ** (-b) for b in (lo, hi)]
            ax.fill_between(xx, np.minimum(*band), np.maximum(*band), color=colour, alpha=0.2,
                            label=f"95% bootstrap interval [{lo:.2f}, {hi:.2f}]")
        anchor = anchor or (np.exp(np.mean(np.log(law.x))), np.exp(np.mean(np.log(law.y))), law.x.min(), law.x.max())
    if anchor:
        mx, my, x0, x1 = anchor
        xx = np.geomspace(x0, x1, 20)
        slopes = [(2, ":"), (3, "--")] + ([(4, "-."), (5, (0, (1, 3)))] if fits.kind == "delay" else [])
        for beta, ls in slopes:
            ax.loglog(xx, my * (xx / mx) ** (-beta), color="grey", ls=ls, lw=1,
                      label=f"theory slope T^-{beta} ({'LC' if beta <= 3 else 'SP'})")
    ax.set_xlabel("critical delay T_c (ms)" if fits.kind == "delay" else "response window T (ms)")
    ax.set_ylabel("learning rate")
    ax.set_title(f"{name}: scaling")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def index_histograms(result: Classified, threshold: float = 0.5) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    bins = np.linspace(0, 1, 41)
    for name, codes in (("SP", (SP,)), ("LC", (LC,))):
        values = result.mechanism_index[np.isin(result.classes, codes)]
        ax.hist(values[np.isfinite(values)], bins=bins, alpha=0.6, color=CLASS_COLOURS[name], label=f"{name} (n={values.size})")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("mechanism index (low-frequency power fraction)")
    ax.set_ylabel("networks")
    ax.set_title(f"{result.name}: mechanism index by class")
    ax.legend()
    fig.tight_layout()
    return fig


def loss_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], name: str) -> plt.Figure:
    """Mean +- SEM of the loss by class; ``curves[class] = (mean, sem, count)`` per epoch."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for cls, (mean, sem, count) in curves.items():
        ok = count > 0
        if not ok.any():
            continue
        e = np.flatnonzero(ok)
        ax.plot(e, mean[ok], color=CLASS_COLOURS[cls], label=f"{cls} (n={int(count.max())})")
        ax.fill_between(e, (mean - sem)[ok], (mean + sem)[ok], color=CLASS_COLOURS[cls], alpha=0.25)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mean +- SEM)")
    ax.set_title(f"{name}: loss curves by class")
    ax.legend()
    fig.tight_layout()
    return fig


def cell_dynamics(outputs: np.ndarray, rates: np.ndarray, trial_steps: int, dt_ms: float, conditions: list[str],
                  title: str) -> plt.Figure:
    """Outputs of each of the task's ``conditions`` (trials, e.g. cue A and cue B) and the firing-rate
    raster of the first (neurons sorted by peak time), during and after the trial (the dotted line
    marks the trial's end)."""
    t = np.arange(outputs.shape[0]) * dt_ms
    # a narrow second column holds the raster's colour bar, so that both panels keep the same width
    fig, axes = plt.subplots(2, 2, figsize=(8, 6), gridspec_kw={"height_ratios": [1, 2], "width_ratios": [1, 0.025]})
    (ax0, spare), (ax1, cax) = axes
    spare.axis("off")
    ax0.sharex(ax1)
    ax0.tick_params(labelbottom=False)
    styles = ("-", "--", ":", "-.")
    for k, label in enumerate(conditions):
        for ch in range(outputs.shape[-1]):
            ax0.plot(t, outputs[:, k, ch], ls=styles[k % len(styles)], color=f"C{ch}", label=f"{label}, output {ch}")
    ax0.axvline(trial_steps * dt_ms, color="k", lw=1, ls=":")
    ax0.set_ylabel("output")
    ax0.legend(fontsize=7, ncol=2)
    ax0.set_title(title)
    r = rates[:, 0]
    order = np.argsort(np.argmax(r, axis=0))
    im = ax1.imshow(r[:, order].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                    extent=(t[0], t[-1] + dt_ms, r.shape[1], 0))
    ax1.axvline(trial_steps * dt_ms, color="k", lw=1, ls=":")
    ax1.set_xlabel("time (ms)")
    ax1.set_ylabel(f"neuron (sorted by peak time, {conditions[0]})")
    fig.colorbar(im, cax=cax, label="firing rate")
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, out_dir, stem: str) -> list[str]:
    paths = []
    for ext in ("png", "pdf"):
        path = f"{out_dir}/{stem}.{ext}"
        fig.savefig(path, dpi=130 if ext == "png" else None)
        paths.append(path)
    plt.close(fig)
    return paths


__all__ = ["phase_diagram", "class_fractions", "scaling_plot", "index_histograms", "loss_curves",
           "cell_dynamics", "save"]
