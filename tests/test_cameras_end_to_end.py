"""Every camera type of the real DL1 files, end to end: train, generate, evaluate.

The files (``../shared/data/dl1/``, see its README) hold a few LSTCam and NectarCam
images each, and files of one run must share their subarray: copies of one file
per camera make a sample the commands accept (each copy counts as other showers).
The generated file must be written, and the report judged, with the camera's
cleaning from :mod:`ctgans.cameras`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tables
from ctapipe.instrument import SubarrayDescription

from ctgans.cameras import camera_settings

PROJECT = Path(__file__).resolve().parents[1]
DL1 = PROJECT.parent / "shared" / "data" / "dl1"
#: Camera -> telescope type and ids (those with images), file, copies (3 showers
#: of 10 images; 1 of 11).
CAMERAS = {
    "LSTCam": ("LST_LST_LSTCam", None, "test_lasercal_v3", 8),
    "NectarCam": ("MST_MST_NectarCam", [*range(5, 15), 19], "history_meta_75", 12),
}


def _config(folder: Path, tel_type: str, ids, files: list[Path]) -> Path:
    signal = ", ".join(str(f) for f in files)
    telescopes = f"{{types: [{tel_type}]" + (f", ids: {ids}}}" if ids else "}")
    path = folder / "camera.yml"
    path.write_text(
        f"""data:
  signal: [{signal}]
  telescopes: {telescopes}
  channels: [image]
  mapper: {{type: BilinearMapper}}
  focal_length_choice: EQUIVALENT
  labels: [energy, cameradirection]
  validation_fraction: 0.35
  cache_dir: {folder / "cache"}
model:
  latent_dim: 8
  generator: {{base_filters: 8}}
  critic: {{filters: [8, 16]}}
  predictor:
    architecture: [{{filters: 16, blocks: 1}}]
    attention_mechanism: none
    epochs: 1
    batch_size: 8
    directory: {folder / "pred"}
loss: {{critic_steps: 1}}
train:
  batch_size: 4
  epochs: 1
  strategy: default
  run_dir: {folder / "runs"}
seed: 0
"""
    )
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PROJECT), CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.skipif(not DL1.is_dir(), reason="no real DL1 files (../shared/data)")
@pytest.mark.parametrize("camera", sorted(CAMERAS))
def test_every_camera_is_written_and_judged_with_its_cleaning(camera, tmp_path):
    tel_type, ids, name, copies = CAMERAS[camera]
    (tmp_path / "data").mkdir()
    files = [tmp_path / "data" / f"{name}-{k}.dl1.h5" for k in range(copies)]
    for copy in files:
        shutil.copyfile(DL1 / f"{name}.dl1.h5", copy)
    config = _config(tmp_path, tel_type, ids, files)
    _run("ctgans.train", str(config))
    run = tmp_path / "runs" / "camera-001"
    assert (run / "generator.keras").is_file()

    output = tmp_path / "generated.dl1.h5"
    # The copies repeat one energy: labels copied, not sampled from a range.
    _run(
        "ctgans.generate",
        str(run),
        "--output",
        str(output),
        "--n-events",
        "6",
        "--labels-from",
        str(files[0]),
        "--no-progress",
    )
    # The file's image parameters were computed with the camera's cleaning.
    settings = camera_settings(camera)
    subarray = SubarrayDescription.from_hdf(output)
    n_events = 0
    with tables.open_file(str(output)) as h5:
        for table in h5.root.dl1.event.telescope.parameters:
            images = h5.get_node(f"/dl1/event/telescope/images/{table.name}").read()
            tel_id = int(table.name.split("_")[1])
            geometry = subarray.tel[tel_id].camera.geometry
            intensity = table.col("hillas_intensity")
            for image, value in zip(images["image"], intensity):
                n_events += 1
                if np.isfinite(value):
                    mask = settings.clean(geometry, image.astype(np.float64))
                    assert value == pytest.approx(image[mask].sum(), rel=1e-4)
    assert n_events == 6

    report = tmp_path / "report"
    judged = _run(
        "ctgans.evaluate",
        str(run),
        "--output",
        str(report),
        "--no-speed",
        "--resamples",
        "5",
    )
    assert f"cleaning of camera {settings.describe()}" in judged.stderr
    cleaning = json.loads((report / "report.json").read_text())["cleaning"]
    assert cleaning == settings.as_dict()
