"""Two channels (charge and peak time): round trip and generated DL1 files."""

from __future__ import annotations

import numpy as np
import pytest
from smoke_configs import smoke_config


def _toy_two_channels(path, n: int):
    from ctapipe.io import read_table

    from ctgans.config import DataConfig
    from ctgans.generate.reference import read_reference

    reference = read_reference(path, DataConfig(signal=(path,)), [1])
    table = read_table(path, "/dl1/event/telescope/images/tel_001")[:n]
    images = np.stack([table["image"], table["peak_time"]], axis=-1)
    return reference.subarray.tel[1].camera.geometry, images.astype(np.float32)


def test_two_channel_round_trip_keeps_intensity_and_peak_time(toy_pair):
    """camera (image, peak_time) -> 43x43 -> normalise -> inverse -> camera.

    Measured on 74 toy gamma images with intensity >= 50 p.e.: charge in the
    cleaned pixels within 6e-5 (90 %) / 2e-4 (max) relative, peak time of the
    cleaned pixels within 0.012 ns.
    """
    from ctapipe.image import hillas_parameters, tailcuts_clean

    from ctgans.data.normalize import ImageNormalization
    from ctgans.generate.inverse_mapping import InverseMapper, build_mapper

    geometry, camera = _toy_two_channels(toy_pair["gamma"], 80)
    mapper = build_mapper(geometry, "BilinearMapper", 43)
    square = mapper.map_image(camera)
    normalization = ImageNormalization.fit(square, ("image", "peak_time"), 1.0)
    kinds = [t.kind for t in normalization.transforms]
    assert kinds == ["signed_log", "standard"]
    network = normalization.forward(square)
    assert np.abs(network[..., 0]).max() <= 1.0 + 1e-6
    assert abs(network[..., 1].mean()) < 1e-3 and abs(network[..., 1].std() - 1) < 1e-3
    physical = normalization.inverse(network)
    np.testing.assert_allclose(physical, square, rtol=1e-4, atol=1e-3)
    back = InverseMapper(mapper, geometry)(physical)
    assert back.shape == camera.shape

    charge, peak_time = [], []
    for original, restored in zip(camera, back):
        mask = tailcuts_clean(
            geometry, original[:, 0], 6.0, 3.5, min_number_picture_neighbors=1
        )
        if mask.sum() < 5:
            continue
        if hillas_parameters(geometry[mask], original[mask, 0]).intensity < 50:
            continue
        charge.append(restored[mask, 0].sum() / original[mask, 0].sum() - 1)
        peak_time.append(np.abs(restored[mask, 1] - original[mask, 1]).max())
    charge, peak_time = np.abs(charge), np.asarray(peak_time)
    assert len(charge) >= 30
    assert np.percentile(charge, 90) < 1e-3 and charge.max() < 1e-2
    assert np.percentile(peak_time, 90) < 0.05 and peak_time.max() < 0.2  # ns


def test_time_channel_without_its_inverse_is_caught(toy_pair):
    """The round trip above fails if the time channel is not de-normalised."""
    from ctgans.data.normalize import ImageNormalization

    _, camera = _toy_two_channels(toy_pair["gamma"], 20)
    normalization = ImageNormalization.fit(camera, ("image", "peak_time"), 1.0)
    network = normalization.forward(camera)
    assert np.abs(network[..., 1] - camera[..., 1]).max() > 1.0  # ns
    back = normalization.inverse(network)
    assert np.abs(back[..., 1] - camera[..., 1]).max() < 1e-3


@pytest.mark.slow
def test_mono_two_channel_run_writes_peak_times(tmp_path, toy_pair):
    """Smoke-sized mono training on (image, peak_time), then generation: the DL1
    file holds generated peak times that dl1-data-handler reads back."""
    import warnings

    from ctapipe.io import read_table
    from dl1_data_handler.reader import DLImageReader
    from traitlets.config import Config

    from ctgans.config import load_config
    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.trained_run import open_run
    from ctgans.train.run import run

    config = smoke_config(
        tmp_path, toy_pair, **{"channels: [image]  ": "channels: [image, peak_time]"}
    )
    folder = run(load_config(config), fresh=True)
    trained = open_run(folder)
    assert trained.image_shape == (16, 16, 2)
    output = tmp_path / "two.dl1.h5"
    generate(GenerateRequest(folder, output, n_events=8, seed=1))
    peak = np.concatenate(
        [
            np.asarray(
                read_table(output, f"/dl1/event/telescope/images/tel_{t:03d}")[
                    "peak_time"
                ]
            )
            for t in (1, 2)
        ]
    )
    assert peak.shape == (8, 1039) and np.isfinite(peak).all() and peak.std() > 1.0
    reader_config = Config(
        {
            "DLImageReader": {
                "mode": "mono",
                "allowed_tel_types": ["LST_MAGIC_MAGICCam"],
                "channels": ["image", "peak_time"],
                "image_mapper_type": [["type", "*", "BilinearMapper"]],
            },
            "BilinearMapper": {"interpolation_image_shape": 16},
            "TableQualityQuery": {"quality_criteria": []},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = DLImageReader(input_url_signal=[str(output)], config=reader_config)
    try:
        features = np.asarray(reader.generate_mono_batch(np.arange(8))["features"])
    finally:
        for handle in reader.files.values():
            handle.close()
    assert features.shape == (8, 16, 16, 2)
    assert features[..., 1].std() > 1.0
