"""Sample grids: simulated images next to generated ones with the same labels.

Written into the run folder by training (``samples/epoch-NNNN.png``) and into a
fidelity report folder by evaluation (``samples.png``).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ctgans.data.normalize import ImageNormalization, LabelScaler  # noqa: E402

__all__ = ["plot_sample_grid"]


def _label_text(labels: dict[str, np.ndarray], i: int) -> str:
    parts = []
    if "true_shower_primary_class" in labels:
        parts.append(
            "gamma" if labels["true_shower_primary_class"][i] > 0.5 else "proton"
        )
    if "log_true_energy" in labels:
        parts.append(f"E={10 ** labels['log_true_energy'][i]:.2f} TeV")
    if "cam_coord_offset_x" in labels:
        parts.append(
            f"cam=({labels['cam_coord_offset_x'][i]:.2f},"
            f"{labels['cam_coord_offset_y'][i]:.2f}) m"
        )
    if "fov_lon" in labels:
        parts.append(f"fov=({labels['fov_lon'][i]:.2f},{labels['fov_lat'][i]:.2f})°")
    return "\n".join(parts)


def plot_sample_grid(
    path: Path,
    real,
    fake,
    labels,
    normalization: ImageNormalization,
    scaler: LabelScaler,
    title: str = "",
) -> None:
    """Write a PNG: per label set, the simulated and the generated charge image."""
    real = normalization.inverse(real)[..., 0]
    fake = normalization.inverse(fake)[..., 0]
    if real.ndim == 4:  # stereo: telescopes side by side
        real = np.concatenate(list(np.moveaxis(real, 1, 0)), axis=-1)
        fake = np.concatenate(list(np.moveaxis(fake, 1, 0)), axis=-1)
    physical = scaler.inverse(labels)
    n = len(real)
    columns = min(n, 4)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(
        2 * rows, columns, figsize=(3 * columns, 3.2 * 2 * rows), squeeze=False
    )
    for i in range(n):
        r, c = divmod(i, columns)
        vmax = max(float(np.percentile(real[i], 99.9)), 1.0)
        for row, image, kind in (
            (2 * r, real[i], "simulated"),
            (2 * r + 1, fake[i], "generated"),
        ):
            ax = axes[row, c]
            ax.imshow(image, origin="lower", cmap="viridis", vmin=0, vmax=vmax)
            ax.set_title(f"{kind}\n{_label_text(physical, i)}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    for i in range(n, rows * columns):
        r, c = divmod(i, columns)
        axes[2 * r, c].axis("off")
        axes[2 * r + 1, c].axis("off")
    fig.suptitle(f"{title} (charge, p.e.)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
