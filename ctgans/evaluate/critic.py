"""The run's final critic as a judge: its Wasserstein estimate on validation images.

``W = mean D(simulated) - mean D(generated)`` with the critic of the last
checkpoint, the sign training logs as ``wasserstein``: positive when the critic
scores simulated images higher, i.e. tells them apart; about 0 when it cannot.
Critic scores have no absolute scale (they are only defined up to a constant and
depend on the run), so the value is reported next to its floor, not a target.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from ctgans.evaluate.inputs import EvaluationInputs
from ctgans.evaluate.targets import entry
from ctgans.runs.files import read_critic
from ctgans.runs.layout import epoch_checkpoint, latest_checkpoint

__all__ = ["critic_scores", "load_critic", "wasserstein_entry"]

log = logging.getLogger(__name__)


def load_critic(inputs: EvaluationInputs, epoch: int | None = None):
    """The critic of the run's last checkpoint (or of ``epoch``), or None (with
    the reason logged)."""
    from ctgans.models import Critic

    checkpoint = (
        latest_checkpoint(inputs.run.folder)
        if epoch is None
        else epoch_checkpoint(inputs.run.folder, epoch)
    )
    if checkpoint is None:
        log.warning("%s: no checkpoint, no critic estimate", inputs.run.folder)
        return None, None
    saved = read_critic(inputs.run.folder)
    if saved is not None:  # written by training since the critic's image moments
        critic = Critic.from_config(saved)
    else:
        c = inputs.config.model.critic
        critic = Critic(
            image_shape=inputs.run.image_shape,
            n_labels=len(inputs.run.label_columns),
            filters=c.filters,
            conditioning=c.conditioning,
            spectral_norm=c.spectral_norm,
        )
    critic((inputs.images[:1], inputs.labels[:1]))
    critic.load_weights(checkpoint / "critic.weights.h5")
    epoch = json.loads((checkpoint / "state.json").read_text())["epoch"]
    return critic, int(epoch)


def critic_scores(critic, images: np.ndarray, labels: np.ndarray, batch: int = 256):
    """One critic score per image."""
    return np.concatenate(
        [
            np.asarray(
                critic((images[i : i + batch], labels[i : i + batch]), training=False)
            ).ravel()
            for i in range(0, len(images), batch)
        ]
    )


def wasserstein_entry(
    inputs: EvaluationInputs, fake: np.ndarray, splits, epoch: int | None = None
) -> dict:
    """The W estimate per halving: value mean D(sim B) - mean D(gen A), floor
    mean D(sim B) - mean D(sim A)."""
    critic, epoch = load_critic(inputs, epoch)
    if critic is None:
        return {"status": "info", "value": None, "reason": "no checkpoint"}
    real = critic_scores(critic, inputs.images, inputs.labels)
    fake_scores = critic_scores(critic, fake, inputs.labels)
    values = [real[b].mean() - fake_scores[a].mean() for a, b in splits]
    floors = [real[b].mean() - real[a].mean() for a, b in splits]
    return entry(
        values,
        floors,
        None,
        checkpoint_epoch=epoch,
        all_events=float(real.mean() - fake_scores.mean()),
        sign="mean D(simulated) - mean D(generated): > 0 means the critic tells "
        "them apart",
    )
