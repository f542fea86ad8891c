"""The camera table: one cleaning per camera for the simulator, writer and report."""

from __future__ import annotations

import logging

import numpy as np
from ctapipe.image.cleaning import TailcutsImageCleaner
from ctapipe.instrument import CameraGeometry

from ctgans.cameras import CAMERAS, camera_settings, processor_config
from ctgans.evaluate.features import image_features
from ctgans.simulate.instrument import camera_geometry


def test_magic_gets_its_row_and_an_unlisted_camera_ctapipes_defaults():
    assert camera_settings("MAGICCam") == CAMERAS["MAGICCam"]
    lst = camera_settings("LSTCam")
    traits = TailcutsImageCleaner.class_traits()
    assert lst.picture_pe == traits["picture_threshold_pe"].default()[0][2]
    assert lst.boundary_pe == traits["boundary_threshold_pe"].default()[0][2]
    assert lst.min_picture_neighbors == traits["min_picture_neighbors"].default()[0][2]
    assert "ctapipe defaults" in lst.source


def test_processor_config_per_subarray():
    magic = processor_config(["MAGICCam", "MAGICCam"])
    cleaner = magic["ImageProcessor"]["TailcutsImageCleaner"]
    assert cleaner["picture_threshold_pe"] == CAMERAS["MAGICCam"].picture_pe
    assert processor_config(["LSTCam"]) == {}  # ctapipe's defaults
    mixed = processor_config(["LSTCam", "MAGICCam"])["ImageProcessor"]
    patterns = mixed["TailcutsImageCleaner"]["picture_threshold_pe"]
    assert ("type", "*_MAGICCam", CAMERAS["MAGICCam"].picture_pe) in patterns


def test_the_report_cleans_each_camera_as_its_file_is_written(caplog):
    magic = camera_geometry()
    other = CameraGeometry(  # MAGIC's pixels under a name the table does not list
        name="OtherCam",
        pix_id=magic.pix_id,
        pix_x=magic.pix_x,
        pix_y=magic.pix_y,
        pix_area=magic.pix_area,
        pix_type=magic.pix_type,
        pix_rotation=magic.pix_rotation,
        cam_rotation=magic.cam_rotation,
    )
    rng = np.random.default_rng(0)
    for geometry in (magic, other):
        settings = camera_settings(geometry.name)
        image = rng.exponential(3.0, geometry.n_pixels)
        image[: geometry.n_pixels // 20] += 20.0
        mask = settings.clean(geometry, image)
        features = image_features(image, geometry)
        np.testing.assert_allclose(features["hillas_intensity"][0], image[mask].sum())
    camera_settings.cache_clear()
    with caplog.at_level(logging.INFO, logger="ctgans.cameras"):
        camera_settings("NectarCam")
    assert "cleaning of camera NectarCam: tailcuts" in caplog.text
