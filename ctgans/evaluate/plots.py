"""PNG plots of a fidelity report: feature histograms, label recovery, sample grid."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ctgans.evaluate.features import FEATURE_NAMES  # noqa: E402

__all__ = ["feature_histograms", "label_recovery_curves"]


def feature_histograms(
    path: Path, sim: dict, gen: dict, title: str = "", bins: int = 40
) -> None:
    """One panel per image parameter: simulated and generated, normalised."""
    names = [n for n in FEATURE_NAMES if n in sim]
    columns = 5
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows))
    for ax, name in zip(axes.ravel(), names, strict=False):
        s = sim[name][np.isfinite(sim[name])]
        g = gen[name][np.isfinite(gen[name])]
        pooled = np.concatenate([s, g])
        if pooled.size == 0:
            ax.set_title(f"{name}: no values", fontsize=8)
            continue
        low, high = np.quantile(pooled, [0.005, 0.995])
        edges = np.linspace(low, high if high > low else low + 1, bins + 1)
        if s.size:
            ax.hist(np.clip(s, low, high), edges, density=True, alpha=0.5, label="sim")
        if g.size:
            ax.hist(
                np.clip(g, low, high), edges, density=True, histtype="step", label="gen"
            )
        label = "log10 hillas_intensity" if name == "hillas_intensity" else name
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(f"{title} image parameters, simulated vs generated (same labels)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def label_recovery_curves(path: Path, section: dict) -> None:
    """Per energy bin: each figure on simulated and generated images, by the
    CTLearn predictor (the simulated-vs-simulated floor as error bars) and by
    the random forests where the section has their curves."""
    edges = np.asarray(section["energy_edges_log10_tev"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    names = list(section["simulated"]["per_bin"])
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        sim = np.asarray(section["simulated"]["per_bin"][name], float)
        gen = np.asarray(section["generated"]["per_bin"][name], float)
        floor = np.asarray(section["floor_per_bin"][name], float)
        ax.errorbar(centres, sim, yerr=floor, fmt="o-", label="simulated", ms=3)
        ax.plot(centres, gen, "s--", label="generated", ms=3)
        forest = section.get("forest_curves", {})
        if name in forest.get("simulated", {}).get("per_bin", {}):
            ax.plot(
                centres,
                np.asarray(forest["simulated"]["per_bin"][name], float),
                "^-",
                label="simulated (RF)",
                ms=3,
            )
            ax.plot(
                centres,
                np.asarray(forest["generated"]["per_bin"][name], float),
                "v--",
                label="generated (RF)",
                ms=3,
            )
        ax.set_xlabel("log10(E_true / TeV)")
        ax.set_title(name, fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle(
        "label recovery by the CTLearn evaluation predictor (error bars: "
        "|sim A - sim B|) and the random forests (RF)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
