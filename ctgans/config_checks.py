"""Checks across config sections: combinations of settings that are refused.

Run by :func:`ctgans.config.config_from_dict` once every section is read.
"""

from __future__ import annotations

import os

from ctgans.choices import PAIRED_LABEL_LOSSES, WINDOW_CHANNELS
from ctgans.config_types import Config
from ctgans.exceptions import ConfigError

#: CTLearn's squeeze-and-excitation attentions that divide the filters by its
#: ``attention_reduction_ratio`` (default 16): every stage needs that many.
SE_ATTENTION = ("Dual-SE", "Channel-SE")
SE_REDUCTION = 16


def check_camera_model(cfg: Config) -> None:
    """The camera-aware generator's needs: mono, one charge channel, directions."""
    g = cfg.model.generator
    where = f"({cfg.source})"
    if g.camera_noise and (cfg.data.mode != "mono" or cfg.data.channels != ("image",)):
        raise ConfigError(
            "model.generator.camera_noise: needs data.mode mono and data.channels "
            f"[image]; received mode {cfg.data.mode}, channels "
            f"{list(cfg.data.channels)} {where}"
        )
    if g.shower_envelope and not g.source_frame:
        raise ConfigError(
            "model.generator.shower_envelope: needs model.generator.source_frame: "
            f"true; received source_frame false {where}"
        )
    if g.envelope_rate != 1.0 and not g.shower_envelope:
        raise ConfigError(
            "model.generator.envelope_rate: needs model.generator.shower_envelope: "
            f"true; received shower_envelope false {where}"
        )
    for key in ("envelope_centre", "envelope_length"):
        if getattr(g, key) != "learned" and not g.shower_envelope:
            raise ConfigError(
                f"model.generator.{key}: {getattr(g, key)} needs "
                "model.generator.shower_envelope: true; received shower_envelope "
                f"false {where}"
            )
    if g.envelope_length_factor != 2.0 and g.envelope_length != "fitted":
        raise ConfigError(
            "model.generator.envelope_length_factor: needs "
            "model.generator.envelope_length: fitted; received envelope_length "
            f"{g.envelope_length} {where}"
        )
    if g.window_coordinates and not g.shower_envelope:
        raise ConfigError(
            "model.generator.window_coordinates: true needs "
            f"model.generator.shower_envelope: true; received shower_envelope false "
            f"{where}"
        )
    if tuple(g.window_channels) != WINDOW_CHANNELS and not g.window_coordinates:
        raise ConfigError(
            "model.generator.window_channels: needs "
            "model.generator.window_coordinates: true; received window_coordinates "
            f"false {where}"
        )
    for key, on in (
        ("envelope_length_spread", g.envelope_length_spread),
        ("envelope_length_deblur", g.envelope_length_deblur),
    ):
        if on and g.envelope_length != "fitted":
            raise ConfigError(
                f"model.generator.{key}: true needs "
                "model.generator.envelope_length: fitted; received envelope_length "
                f"{g.envelope_length} {where}"
            )
    if g.envelope_length_spread and cfg.model.latent_dim < 5:
        raise ConfigError(
            "`model.latent_dim` must be at least 5 with "
            "model.generator.envelope_length_spread: true (z[:, 4] draws the "
            f"length); received {cfg.model.latent_dim} {where}"
        )
    if g.shower_intensity != "learned" and not g.camera_noise:
        raise ConfigError(
            f"model.generator.shower_intensity: {g.shower_intensity} needs "
            f"model.generator.camera_noise: true; received camera_noise false {where}"
        )
    if g.shower_intensity != "learned" and cfg.model.latent_dim < 4:
        raise ConfigError(
            "`model.latent_dim` must be at least 4 with "
            "model.generator.shower_intensity: fitted (z[:, 3] draws the light); "
            f"received {cfg.model.latent_dim} {where}"
        )
    if g.canvas_scale != 1 and not g.source_frame:
        raise ConfigError(
            "model.generator.canvas_scale: 2 needs model.generator.source_frame: "
            f"true; received source_frame false {where}"
        )
    if g.render != "grid" and not g.source_frame:
        raise ConfigError(
            f"model.generator.render: {g.render} needs model.generator.source_frame: "
            f"true; received source_frame false {where}"
        )
    if g.envelope_at != "canvas" and (g.render != "pixels" or not g.shower_envelope):
        raise ConfigError(
            f"model.generator.envelope_at: {g.envelope_at} needs "
            "model.generator.render: pixels and shower_envelope: true; received "
            f"render {g.render}, shower_envelope {str(g.shower_envelope).lower()} "
            f"{where}"
        )
    if g.shower_angle != "free" and (
        g.render != "pixels" or g.envelope_centre != "fitted"
    ):
        raise ConfigError(
            f"model.generator.shower_angle: {g.shower_angle} needs "
            "model.generator.render: pixels and envelope_centre: fitted; received "
            f"render {g.render}, envelope_centre {g.envelope_centre} {where}"
        )
    if g.source_frame and not g.camera_noise:
        raise ConfigError(
            "model.generator.source_frame: needs model.generator.camera_noise: true; "
            f"received camera_noise false {where}"
        )
    for key, on in (
        ("model.generator.source_frame", g.source_frame),
        ("model.critic.image_moments", cfg.model.critic.image_moments),
        ("model.critic.source_coordinates", cfg.model.critic.source_coordinates),
    ):
        if on and "cameradirection" not in cfg.data.labels:
            raise ConfigError(
                f"{key}: needs the cameradirection label in data.labels; received "
                f"{list(cfg.data.labels)} {where}"
            )
    if cfg.loss.label_loss in PAIRED_LABEL_LOSSES and (
        cfg.data.mode != "mono" or cfg.train.label_source != "real"
    ):
        raise ConfigError(
            f"loss.label_loss: {cfg.loss.label_loss} compares the generated images "
            "with the real images of the same labels, so it needs data.mode mono and "
            f"train.label_source real; received mode {cfg.data.mode}, label_source "
            f"{cfg.train.label_source} {where}"
        )
    if cfg.loss.moment_weight and "energy" not in cfg.data.labels:
        raise ConfigError(
            "loss.moment_weight: follows the moments' trend with energy, so it "
            f"needs the energy label in data.labels; received {list(cfg.data.labels)} "
            f"{where}"
        )
    if cfg.loss.moment_weight and cfg.train.label_source != "real":
        raise ConfigError(
            "loss.moment_weight: compares the generated images with the real images "
            "of the same labels, so it needs train.label_source real; received "
            f"{cfg.train.label_source} {where}"
        )
    for key, on in (
        ("loss.moment_weight", bool(cfg.loss.moment_weight)),
        ("model.critic.image_moments", cfg.model.critic.image_moments),
        ("model.critic.source_coordinates", cfg.model.critic.source_coordinates),
        ("model.critic.charge_views", bool(cfg.model.critic.charge_views)),
        ("model.critic.mapper_views", bool(cfg.model.critic.mapper_views)),
    ):
        if on and (cfg.data.mode != "mono" or cfg.data.channels[0] != "image"):
            raise ConfigError(
                f"{key}: needs data.mode mono with the image channel first; "
                f"received mode {cfg.data.mode}, channels "
                f"{list(cfg.data.channels)} {where}"
            )


def check_model(cfg: Config) -> None:
    """Combinations of model settings that the networks refuse."""
    m = cfg.model
    p = m.predictor
    smallest = min(filters for filters, _ in p.architecture)
    if p.attention_mechanism in SE_ATTENTION and smallest < SE_REDUCTION:
        raise ConfigError(
            f"`model.predictor.architecture` must have at least {SE_REDUCTION} "
            f"filters in every stage with attention_mechanism "
            f"{p.attention_mechanism} (CTLearn divides the filters by "
            f"{SE_REDUCTION}; or attention_mechanism Spatial-SE or none); received "
            f"filters {[f for f, _ in p.architecture]} ({cfg.source})"
        )
    if m.generator.source_frame and m.latent_dim < 2:
        raise ConfigError(
            "`model.latent_dim` must be at least 2 with "
            "model.generator.source_frame (the rotation angle is drawn from two "
            f"noise components); received {m.latent_dim} ({cfg.source})"
        )


def check_output_folders(cfg: Config) -> None:
    """Refuse output folders that cannot be made or written, before any work."""
    folders = {
        "data.cache_dir": cfg.data.cache_dir,
        "model.predictor.directory": cfg.model.predictor.directory,
        "train.run_dir": cfg.train.run_dir,
    }
    if cfg.data.toy_dataset is not None:
        folders["data.toy_dataset.directory"] = cfg.data.toy_dataset.directory
    for key, folder in folders.items():
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            problem = f"{existing} is not a folder"
        elif not os.access(existing, os.W_OK | os.X_OK):
            problem = f"{existing} is not writable"
        else:
            continue
        raise ConfigError(
            f"`{key}` must be a folder that can be created and written; received "
            f"'{folder}': {problem} ({cfg.source})"
        )
