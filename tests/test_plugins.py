"""The proof that a model family, a task and an analysis are one file each: all three are defined in
this test file, registered from here, and run through ``rnnsweep run`` and ``rnnsweep analyze`` (in
process, and in a real subprocess with ``--plugin tests/test_plugins.py``) without touching any
rnnsweep module.

* ``tiny_lstm``: an LSTM whose state is the pytree ``(h, c)``, with a linear readout;
* ``flip_flop``: a 1-bit flip-flop with random pulses drawn from the task's key every epoch, a
  sweepable trial length, and its own metrics;
* ``final_loss``: an analysis of every network's last recorded loss, with a figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import zarr

from rnnsweep import cli, schema
from rnnsweep.analysis import Analysis, Context, Result, Study
from rnnsweep.analysis import register as register_analysis
from rnnsweep.metrics import weighted_mse
from rnnsweep.models import AbstractModel
from rnnsweep.models import register as register_model
from rnnsweep.settings import positive
from rnnsweep.tasks import AbstractTask, Timing, TimingError, Trials
from rnnsweep.tasks import register as register_task

ROOT = Path(__file__).resolve().parent.parent


@register_model
class TinyLSTM(AbstractModel):
    """A small LSTM: state (h, c), gates from one input and one recurrent matrix, linear readout."""

    family: ClassVar[str] = "tiny_lstm"
    recurrent_params: ClassVar[tuple[str, ...]] = ("W_hh",)

    n_hidden: int = 8
    n_inputs: int = 1
    n_outputs: int = 1
    dt_ms: float = 1.0

    def check_settings(self) -> None:
        positive("model.n_hidden", self.n_hidden, integer=True)

    def init(self, key, dtype=jnp.float32, **cell_args):
        k1, k2, k3 = jax.random.split(key, 3)
        h, i, o = self.n_hidden, self.n_inputs, self.n_outputs
        scale = 1.0 / np.sqrt(h)
        return {"W_ih": scale * jax.random.normal(k1, (i, 4 * h), dtype),
                "W_hh": scale * jax.random.normal(k2, (h, 4 * h), dtype),
                "b": jnp.zeros((4 * h,), dtype),
                "W_out": scale * jax.random.normal(k3, (h, o), dtype),
                "b_out": jnp.zeros((o,), dtype)}

    def param_dims(self):
        return {"W_ih": ("input", "gate"), "W_hh": ("hidden", "gate"), "b": ("gate",), "W_out": ("hidden", "output"),
                "b_out": ("output",)}

    def initial_state(self, key, n_trials, dtype=jnp.float32):
        return (jnp.zeros((n_trials, self.n_hidden), dtype), jnp.zeros((n_trials, self.n_hidden), dtype))

    def drive(self, params, inputs, noise):
        return inputs @ params["W_ih"] + params["b"]

    def update(self, params, state, drive_t):
        h, c = state
        i, f, g, o = jnp.split(drive_t + h @ params["W_hh"], 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return jax.nn.sigmoid(o) * jnp.tanh(c), c

    def read(self, params, states):
        return states[0] @ params["W_out"] + params["b_out"]

    def rates(self, states):
        return states[0]

    def state_size(self):
        return 2 * self.n_hidden

    def flops_per_step(self, n_trials):
        return 2.0 * n_trials * 4 * self.n_hidden * (self.n_hidden + self.n_inputs)


@register_task
class FlipFlop(AbstractTask):
    """One-bit flip-flop: +-1 pulses at random steps; the output holds the sign of the last pulse."""

    name: ClassVar[str] = "flip_flop"
    durations: ClassVar[tuple[str, ...]] = ("trial_ms",)
    axes: ClassVar[tuple[str, ...]] = ("trial_ms",)
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")

    dt_ms: float = 1.0
    trial_ms: float = 12.0
    n_trials: int = 16
    pulse_probability: float = 0.2

    n_inputs = property(lambda self: 1)
    n_outputs = property(lambda self: 1)

    def check_settings(self):
        positive("task.n_trials", self.n_trials, integer=True)
        if not 0 < self.pulse_probability <= 1:
            raise ValueError(f"task.pulse_probability: must lie in (0, 1], got {self.pulse_probability!r}")

    def check_timing(self, timing: Timing):
        if timing["trial"] < 2:
            raise TimingError("trial_ms", "a trial needs at least two steps")

    def trials(self, timing, n_steps_max, key, dtype=jnp.float32):
        k_when, k_sign = jax.random.split(key)
        shape = (n_steps_max, self.n_trials, 1)
        pulse = jax.random.bernoulli(k_when, self.pulse_probability, shape)
        sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0)
        inputs = jnp.where(pulse, sign, 0.0).astype(dtype)
        # the target holds the last pulse's sign (0 before the first pulse)
        targets = jax.lax.associative_scan(lambda a, b: jnp.where(b != 0, b, a), inputs, axis=0)
        n = self.n_steps(timing)
        inside = jnp.arange(n_steps_max) < n
        return Trials(inputs, targets, inside.astype(dtype), inside, n)

    def loss(self, outputs, trials):
        return weighted_mse(outputs, trials)

    def metrics(self, outputs, trials):
        held = trials.score_mask[:, None] & (trials.targets[..., 0] != 0)
        count = jnp.maximum(jnp.sum(held), 1)
        right = jnp.sign(outputs[..., 0]) == trials.targets[..., 0]
        closeness = jnp.clip(1 - jnp.abs(outputs[..., 0] - trials.targets[..., 0]) / 2, 0, 1)
        return (jnp.sum(jnp.where(held, right, 0)) / count).astype(outputs.dtype), \
            (jnp.sum(jnp.where(held, closeness, 0)) / count).astype(outputs.dtype)

    def conditions(self):
        return {"trial 0": 0, "trial 1": 1}


@register_analysis
class FinalLoss(Analysis):
    """Every network's last recorded loss."""

    name: ClassVar[str] = "final_loss"
    description: ClassVar[str] = "the last recorded loss of every network, with a histogram"

    bins: int = 10

    @classmethod
    def applies(cls, study: Study) -> str | None:
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        import matplotlib.pyplot as plt

        per_source = []
        for source in study.sources:
            loss = source.read(schema.LOSS)
            last = np.clip(source.read(schema.EPOCHS_RUN) - 1, 0, None)
            per_source.append(np.take_along_axis(loss, last[..., None], axis=-1)[..., 0])
        final = study.join(per_source)
        fig, ax = plt.subplots()
        ax.hist(final[np.isfinite(final)], bins=self.bins)
        ax.set_xlabel("final loss")
        ax.set_title(f"{study.name}: final loss")
        path = ctx.out / "final_loss.png"
        fig.savefig(path)
        plt.close(fig)
        median = float(np.nanmedian(final))
        return Result(cell_arrays={"final_loss": final}, summary={"final_loss_median": median},
                      report=["## Final loss", "", f"Median over {final.size} networks: {median:.4g}"],
                      figures=[str(path)], value=final)


SWEEP = """
name = "plugged"
[model]
family = "tiny_lstm"
n_hidden = 6
[task]
name = "flip_flop"
n_trials = 8
[train]
optimizer = "adam"
epochs = "30"
chunk_epochs = 15
[grid]
seed = 2
lr = [0.03, 0.01]
trial_ms = [10.0, 16.0]
[run]
max_padding = 100.0
"""
# Both trial lengths in one block (one compiled program). The real-subprocess test below runs the same
# sweep, so that it finds the in-process test's programs in the session's compilation cache.


def test_lstm_state_is_a_pytree_through_run_step_and_velocity():
    net = TinyLSTM(n_hidden=5)
    params = net.init(jax.random.PRNGKey(0))
    state0 = net.initial_state(jax.random.PRNGKey(1), 3)
    inputs = jax.random.normal(jax.random.PRNGKey(2), (7, 3, 1))
    rates, outputs = net.run(params, inputs, None, state0)
    assert rates.shape == (7, 3, 5) and outputs.shape == (7, 3, 1)
    state = state0
    for t in range(7):
        np.testing.assert_allclose(rates[t], state[0], rtol=1e-5, atol=1e-6)
        state, out = net.step(params, state, inputs[t])
        np.testing.assert_allclose(outputs[t], out, rtol=1e-5, atol=1e-6)
    h_dot, c_dot = net.velocity(params, state, jnp.zeros((3, 1)))
    assert h_dot.shape == c_dot.shape == (3, 5)


def test_flip_flop_draws_new_pulses_from_its_key():
    task = FlipFlop()
    timing = task.timing({})
    a, b = (task.trials(timing, 12, jax.random.PRNGKey(k)) for k in (0, 1))
    assert not np.array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.inputs, task.trials(timing, 12, jax.random.PRNGKey(0)).inputs)
    x, y = np.asarray(a.inputs[:, 0, 0]), np.asarray(a.targets[:, 0, 0])
    last = 0.0
    for t in range(12):  # the target holds the sign of the last pulse
        last = x[t] if x[t] != 0 else last
        assert y[t] == last


def test_plugins_defined_here_run_and_analyze_in_process(tmp_path):
    sweep = tmp_path / "plugged.toml"
    sweep.write_text(SWEEP)
    store, out = tmp_path / "p.zarr", tmp_path / "analysis"
    assert cli.main(["run", str(sweep), "--store", str(store), "--quiet"]) == 0
    group = zarr.open_group(str(store / "plugged"), mode="r")
    assert np.all(np.asarray(group["status"][...]) == schema.Status.DONE)
    assert np.asarray(group["steps_trial"][...]).tolist() == [[[10, 16]] * 2] * 2
    assert group["param_W_hh"].shape == (2, 2, 2, 6, 24)
    loss = np.asarray(group["loss"][...])
    assert np.all(np.isfinite(loss)) and loss[..., -5:].mean() < 0.8 * loss[..., :5].mean()  # it learns
    assert cli.main(["analyze", str(store), "--out", str(out), "--quiet", "--n-boot", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["analyses"] == ["classes", "final_loss", "learnability", "search_phase"]
    assert "scaling" in summary["skipped"] and "delay_ms" in summary["skipped"]["scaling"]
    assert sum(summary["class_counts"].values()) == 8
    final = zarr.open_group(str(store / "plugged" / "analysis" / "final_loss"), mode="r")
    np.testing.assert_allclose(np.asarray(final["final_loss"][...]), loss[..., -1])
    assert summary["final_loss_median"] == float(np.median(loss[..., -1]))
    assert (out / "final_loss.png").stat().st_size > 5000
    assert "## Final loss" in (out / "report.md").read_text()


def test_plugin_file_loads_in_a_real_subprocess(tmp_path):
    sweep = tmp_path / "plugged.toml"
    sweep.write_text(SWEEP)
    store = tmp_path / "p.zarr"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    plugin = str(Path(__file__).resolve())
    run = lambda *args, **kw: subprocess.run([sys.executable, "-m", "rnnsweep", *map(str, args)],  # noqa: E731
                                             capture_output=True, text=True, cwd=ROOT, timeout=300, **kw)
    missing = run("run", sweep, "--store", store, "--quiet", env=env)
    assert missing.returncode == 2 and "unknown task 'flip_flop'" in missing.stderr and "--plugin" in missing.stderr
    assert not store.exists()
    proc = run("--plugin", plugin, "run", sweep, "--store", store, "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    listed = run("list", "--json", env=dict(env, RNNSWEEP_PLUGINS=plugin))
    entries = json.loads(listed.stdout)
    assert entries["tasks"]["flip_flop"]["axes"] == ["trial_ms"]
    assert entries["models"]["tiny_lstm"]["settings"] == {"n_hidden": 8}
    assert entries["analyses"]["final_loss"]["options"] == {"bins": 10}
    proc = run("analyze", store, "--out", tmp_path / "a", "--only", "final_loss", "--quiet",
               env=dict(env, RNNSWEEP_PLUGINS=plugin))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["analyses"] == ["final_loss"]


def test_analysis_needs_no_training_code():
    code = ("import sys, rnnsweep.analysis; "
            "bad = [m for m in ('rnnsweep.train', 'rnnsweep.executor', 'rnnsweep.runner', 'rnnsweep.sweep', "
            "'rnnsweep.schedule', 'optax') if m in sys.modules]; print(bad)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
