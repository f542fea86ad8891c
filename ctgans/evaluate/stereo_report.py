"""The stereo part of the fidelity report: one telescope per event, and the pair.

A stereo run generates the images of all ``T`` telescopes of a shower. The report
judges them in two ways:

* **Telescope view.** The mono sections (label recovery, image parameters, KPD,
  two-sample classifiers, diversity) compare the *brightest* telescope image of
  each generated event with the brightest of the simulated event with the same
  labels. Every event has one (a simulated event has at least one image passing the
  cuts; a generated one keeps its brightest slot), and which telescope is brightest
  depends on the core position, which the labels do not fix, so slot-by-slot
  pairing would compare unlike views.
* **Stereo checks** (:mod:`ctgans.evaluate.stereo`) on whole events: how many
  telescopes hold an image, the direction reconstructed by ctapipe's
  ``HillasReconstructor`` from the intersection of the image axes, and the
  intensity ratio against the distance of each telescope from the reconstructed
  axis. Each is measured generated-A vs simulated-B and simulated-A vs simulated-B
  over the report's halvings, like every other metric.

FIDELITY.md sets no stereo targets; the ones used here follow its label-recovery
targets: reconstructed direction 68 % containment within 10 % of simulation, and
the fractions of events with two images and with a reconstructed direction within
0.05 of simulation. The intensity-ratio profile is reported without a target.
"""

from __future__ import annotations

import numpy as np

from ctgans.data.presence import mean_abs_charge, present_slots
from ctgans.evaluate.stereo import (
    compare_stereo,
    direction_summary,
    events_from_labels,
    intensity_ratio_vs_impact,
    stereo_features,
)
from ctgans.evaluate.targets import STEREO_METRICS, entry

__all__ = ["brightest_telescope", "stereo_section"]

#: Registered metric (:data:`~ctgans.evaluate.targets.STEREO_METRICS`) -> the
#: figure it compares and whether relatively.
FIGURES = {
    "fraction_two_images": ("fraction_two_images", False),
    "fraction_reconstructed": ("fraction_reconstructed", False),
    "direction_68_deg": ("direction_68_deg", True),
    "intensity_ratio_spearman": ("spearman", False),
}


def brightest_telescope(images: np.ndarray, channel: int) -> np.ndarray:
    """``(n, T, H, W, C)`` -> ``(n, H, W, C)``: each event's brightest telescope."""
    brightest = mean_abs_charge(images, channel).argmax(axis=1)
    return images[np.arange(len(images)), brightest]


def _camera_events(inputs, square: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``(n, T, n_pixels)`` charges in p.e.; zeros in the slots not present."""
    n, n_tel = square.shape[:2]
    charges = inputs.camera_charges(square.reshape(n * n_tel, *square.shape[2:]))
    charges = charges.reshape(n, n_tel, -1)
    return np.where(present[..., np.newaxis], charges, 0.0)


def _features(inputs, square: np.ndarray, present: np.ndarray) -> dict:
    reference = inputs.reference
    tel_ids = inputs.run.tel_ids
    pointing = reference.pointing(reference.obs_ids[0], tel_ids[0])
    events = events_from_labels(
        _camera_events(inputs, square, present),
        tel_ids,
        inputs.physical_labels,
        reference.subarray,
        pointing,
    )
    features = stereo_features(events, reference.subarray, pointing)
    features["n_present"] = present.sum(axis=1)
    return features


def _figures(features: dict, rows: np.ndarray) -> dict[str, float]:
    subset = {k: v[rows] for k, v in features.items()}
    direction = direction_summary(subset)
    return {
        "fraction_two_images": float(np.mean(subset["n_present"] >= 2)),
        "fraction_reconstructed": direction["fraction_reconstructed"],
        "direction_68_deg": direction["direction_68_deg"],
        "spearman": intensity_ratio_vs_impact(subset)["spearman"],
    }


def stereo_section(inputs, fake: np.ndarray, splits) -> dict:
    """Stereo checks of generated vs simulated events, with floors.

    Parameters
    ----------
    inputs : ctgans.evaluate.inputs.EvaluationInputs
        The run and its simulated validation events ``(n, T, H, W, C)``.
    fake : numpy.ndarray
        Generated events, network units, same shape and labels as the simulated.
    splits : list of (numpy.ndarray, numpy.ndarray)
        The report's halvings A/B (row indices).
    """
    channel, threshold = inputs.run.presence
    real = inputs.images
    sim = _features(inputs, real, present_slots(real, channel, threshold))
    gen = _features(inputs, fake, present_slots(fake, channel, threshold))
    figures = [
        (_figures(gen, a), _figures(sim, a), _figures(sim, b)) for a, b in splits
    ]
    everything = np.arange(len(real))
    sim_all, gen_all = _figures(sim, everything), _figures(gen, everything)

    def metric(name, figure, relative):
        target = STEREO_METRICS[name].target

        def compare(x, y):
            return abs(x / y - 1) if relative else abs(x - y)

        return entry(
            [compare(g[figure], sb[figure]) for g, _, sb in figures],
            [compare(sa[figure], sb[figure]) for _, sa, sb in figures],
            target,
            comparison=(
                f"|{'relative ' if relative else ''}difference|, generated A vs "
                "simulated B"
            ),
            simulated=sim_all[figure],
            generated=gen_all[figure],
        )

    return {
        "tel_ids": list(inputs.run.tel_ids),
        "presence": {"channel": channel, "threshold": threshold},
        "metrics": {
            name: metric(name, figure, relative)
            for name, (figure, relative) in FIGURES.items()
        },
        "all_events": compare_stereo(sim, gen),
    }
