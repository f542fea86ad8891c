"""Keras callbacks of a training run: checkpoints and sample grids."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import keras
import numpy as np

from ctgans import preemption
from ctgans.runs.layout import latest_checkpoint, sample_grid_path
from ctgans.runs.samples import plot_sample_grid
from ctgans.train.checkpoint import save_checkpoint

log = logging.getLogger(__name__)


class GeneratorEMA(keras.callbacks.Callback):
    """After every training step, move the GAN's ``ema_generator`` toward its
    generator: ``w_ema <- decay w_ema + (1 - decay) w`` (float weights only)."""

    def __init__(self, gan):
        super().__init__()
        self.gan = gan
        pairs = zip(gan.ema_generator.weights, gan.generator.weights)
        self.pairs = [(e, w) for e, w in pairs if "float" in str(e.dtype)]
        self.decay = gan.ema_decay

    def on_train_batch_end(self, batch, logs=None):
        d = self.decay
        for ema, weight in self.pairs:
            ema.assign(d * ema + (1.0 - d) * weight)


class CheckpointEvery(keras.callbacks.Callback):
    """Save a checkpoint every ``every`` epochs and after the last one; stop at
    the next step boundary after a SIGTERM.

    A SIGTERM during training (:mod:`ctgans.preemption`) stops after the current
    step, with :class:`ctgans.preemption.Terminated` naming the step and the
    checkpoint that the same command resumes from. Between epochs the state is
    exactly that of an epoch's end, so a checkpoint of it is saved if the last one
    is older; within an epoch the last complete checkpoint is kept (resuming
    mid-epoch would not be exact) and the epoch is redone on resume.
    """

    def __init__(self, run: Path, gan, every: int, last_epoch: int, guard=None):
        super().__init__()
        self.run, self.gan, self.every, self.last_epoch = run, gan, every, last_epoch
        self.guard = guard  # a StopOnNonFinite: no checkpoint of a diverged state
        self._epoch = 0

    def on_train_begin(self, logs=None):
        preemption.defer(True)

    def on_train_end(self, logs=None):
        preemption.defer(False)
        if preemption.requested():
            self._stop(f"after epoch {self._epoch + 1}, the last")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if preemption.requested():
            latest = latest_checkpoint(self.run)
            done = int(latest.name.split("-")[1]) if latest is not None else 0
            if epoch > done and (self.guard is None or self.guard.bad_step is None):
                log.info("checkpoint %s", save_checkpoint(self.run, self.gan, epoch))
            self._stop(f"after epoch {epoch}" if epoch else "before the first epoch")

    def on_train_batch_end(self, batch, logs=None):
        if preemption.requested():
            steps = self.params.get("steps") if self.params else None
            of = f" of {steps}" if steps else ""
            self._stop(f"in epoch {self._epoch + 1} after step {batch + 1}{of}")

    def _stop(self, where: str):
        preemption.defer(False)
        latest = latest_checkpoint(self.run)
        kept = (
            f"last complete checkpoint {latest}"
            if latest is not None
            else "no checkpoint yet (the run starts again from epoch 1)"
        )
        raise preemption.Terminated(
            f"stopped by SIGTERM {where}; {kept}; run the same command to resume"
        )

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if self.guard is not None and self.guard.bad_step is not None:
            return
        if done % self.every == 0 or done == self.last_epoch:
            path = save_checkpoint(self.run, self.gan, done)
            log.info("checkpoint %s", path)


class SampleGrid(keras.callbacks.Callback):
    """Simulated images next to generated ones for fixed labels and noise."""

    def __init__(
        self,
        run: Path,
        gan,
        images,
        labels,
        normalization,
        scaler,
        every,
        last_epoch,
        seed,
    ):
        super().__init__()
        self.run, self.gan, self.every, self.last_epoch = run, gan, every, last_epoch
        self.images, self.labels = images, labels
        self.normalization, self.scaler = normalization, scaler
        rng = np.random.default_rng(seed)
        self.z = rng.standard_normal((len(labels), gan.latent_dim)).astype(np.float32)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every == 0 or done == self.last_epoch:
            fake = np.asarray(self.gan.sampler((self.z, self.labels), training=False))
            path = sample_grid_path(self.run, done)
            plot_sample_grid(
                path,
                self.images,
                fake,
                self.labels,
                self.normalization,
                self.scaler,
                title=f"epoch {done}",
            )


class LabelWarmup(keras.callbacks.Callback):
    """Ramp the label losses' weight linearly from 0 to 1 over the first epochs.

    The adversarial loss alone shapes the images first; the predictor's gradients,
    which a young generator satisfies with adversarial pixel patterns, come in
    gradually. The factor depends on the epoch and batch only, so a resumed run
    continues the same ramp.
    """

    def __init__(self, gan, epochs: float):
        super().__init__()
        self.gan, self.epochs = gan, float(epochs)
        self._epoch = 0
        self._assigned = None  # the last value written to the GAN

    def factor(self, epoch: int, batch: int, steps: int | None) -> float:
        if self.epochs <= 0:
            return 1.0
        progress = epoch + (batch / steps if steps else 0.0)
        return min(1.0, progress / self.epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps = self.params.get("steps") if self.params else None
        value = self.factor(self._epoch, batch, steps)
        if value != self._assigned:  # after the ramp: no variable write per step
            self.gan.label_scale.assign(value)
            self._assigned = value


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop at the first step whose losses are NaN or inf; remember which step."""

    def __init__(self):
        super().__init__()
        self.bad_step: int | None = None
        self.bad_values: dict = {}
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # np.asarray: multi-worker batch logs have shape (1,) (see models.gan)
        values = {k: float(np.asarray(v).ravel()[0]) for k, v in (logs or {}).items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad and self.bad_step is None:
            self.bad_step = int(self.model.optimizer.iterations.numpy())
            self.bad_values = bad
            log.error(
                "non-finite losses at step %d (epoch %d): %s",
                self.bad_step,
                self._epoch + 1,
                bad,
            )
            self.model.stop_training = True
