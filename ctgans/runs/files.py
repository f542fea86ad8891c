"""Write and read the files of a run folder that stages hand on.

Training writes ``dataset.json``, ``camera_model.json``, ``critic.json`` and
``label_recovery.json`` here; generation and evaluation read ``config.yml`` and
``dataset.json`` back here. The resolved ``config.yml`` goes through the same
validating loader as a YAML config (:func:`ctgans.config.config_from_dict`), so a
reader gets the run's :class:`~ctgans.config.Config`, never hand-parsed sections.

Paths stored in a run folder are as they were given to training, often relative to
the folder training ran in; a relative path that does not exist from the current
folder is looked up from each parent of the run folder in turn
(:func:`resolve_path`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from ctgans.config import Config, config_from_dict
from ctgans.data.normalize import ImageNormalization, LabelScaler
from ctgans.exceptions import ConfigError, DataError
from ctgans.runs.layout import (
    CAMERA_MODEL,
    CONFIG,
    CRITIC,
    DATASET,
    GENERATOR,
    LABEL_RECOVERY,
    write_atomic,
)

__all__ = [
    "RunDataset",
    "read_config",
    "read_critic",
    "read_dataset",
    "resolve_path",
    "save_generator",
    "write_camera_model",
    "write_critic",
    "write_dataset",
    "write_label_recovery",
]


@dataclass(frozen=True)
class RunDataset:
    """A run's ``dataset.json``: what the networks were trained on.

    ``presence`` is the stereo charge channel and threshold that tell a present
    telescope from an empty slot, ``(None, 0.0)`` for mono runs (and runs trained
    before it was recorded).
    """

    cache: Path
    image_shape: tuple[int, ...]
    tel_ids: tuple[int, ...]
    normalization: ImageNormalization
    label_scaler: LabelScaler
    presence: tuple[int | None, float] = (None, 0.0)


def resolve_path(path: str | Path, folder: Path) -> Path:
    """``path`` as given if it exists, else relative to the nearest parent of
    ``folder`` where it exists; unchanged when found nowhere."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    for parent in folder.resolve().parents:
        if (parent / path).exists():
            return parent / path
    return path


def write_dataset(folder: Path, dataset, channels, presence) -> None:
    """``dataset.json`` of a cached dataset (:class:`~ctgans.data.CachedDataset`)."""
    record = {
        "cache": str(dataset.path),
        "label_columns": list(dataset.label_columns),
        "image_shape": list(dataset.image_shape),
        "tel_ids": list(dataset.tel_ids),
        "channels": list(channels),
        "normalization": json.loads(dataset.normalization.to_json()),
        "label_scaler": json.loads(dataset.label_scaler.to_json()),
        "presence": dict(zip(("channel", "threshold"), presence)),
    }
    write_atomic(folder / DATASET, json.dumps(record, indent=2))


def read_dataset(folder: Path) -> RunDataset:
    """The run's ``dataset.json``; DataError when it is missing or unreadable."""
    try:
        meta = json.loads((folder / DATASET).read_text())
        presence = meta.get("presence") or {}
        channel = presence.get("channel")
        return RunDataset(
            cache=resolve_path(meta.get("cache", ""), folder),
            image_shape=tuple(int(s) for s in meta["image_shape"]),
            tel_ids=tuple(int(t) for t in meta["tel_ids"]),
            normalization=ImageNormalization.from_json(
                json.dumps(meta["normalization"])
            ),
            label_scaler=LabelScaler.from_json(json.dumps(meta["label_scaler"])),
            presence=(
                None if channel is None else int(channel),
                float(presence.get("threshold", 0.0)),
            ),
        )
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"run folder {folder}: unreadable {DATASET} ({type(err).__name__}: {err})"
        ) from None


def read_config(folder: Path) -> Config:
    """The run's resolved ``config.yml``, validated by the config loader, with its
    paths resolved from the run folder."""
    path = folder / CONFIG
    try:
        resolved = yaml.safe_load(path.read_text())
        sections = loader_sections(resolved, folder)
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise DataError(
            f"run folder {folder}: unreadable {CONFIG} ({type(err).__name__}: {err})"
        ) from None
    try:
        return config_from_dict(sections, path, check_files=False)
    except ConfigError as err:
        raise DataError(f"run folder {folder}: {err}") from None


def loader_sections(resolved: dict, folder: Path) -> dict:
    """A resolved ``config.yml`` (dataclass field names, defaults filled in, as
    :func:`ctgans.runs.folder.resolved_config` writes it) -> the YAML config
    schema the loader reads. Unset values (None) are left to the loader's
    defaults; paths are resolved from ``folder``."""

    def path(value):
        return str(resolve_path(value, folder))

    def plain(section: dict) -> dict:
        return {k: v for k, v in section.items() if v is not None}

    data = plain(dict(resolved["data"]))
    data["signal"] = [path(p) for p in data["signal"]]
    data["background"] = [path(p) for p in data.get("background", [])]
    for key in ("cache_dir",):
        if key in data:
            data[key] = path(data[key])
    if "toy_dataset" in data:
        toy = plain(dict(data["toy_dataset"]))
        toy["directory"] = path(toy["directory"])
        data["toy_dataset"] = toy
    telescopes = {
        "types": data.pop("tel_types", None),
        "ids": data.pop("tel_ids", None),
    }
    data["telescopes"] = plain(telescopes)
    mapper = {
        "type": data.pop("mapper", None),
        "image_shape": data.pop("image_shape", None),
    }
    data["mapper"] = plain(mapper)
    data["cuts"] = {
        cut["column"]: plain({"min": cut.get("min"), "max": cut.get("max")})
        for cut in data.get("cuts", [])
    }
    sections = {"data": data, "seed": resolved.get("seed", 0)}
    if "model" in resolved:
        model = dict(resolved["model"])
        if "predictor" in model:
            predictor = dict(model["predictor"])
            if "architecture" in predictor:
                predictor["architecture"] = [
                    {"filters": f, "blocks": b} for f, b in predictor["architecture"]
                ]
            if predictor.get("attention_mechanism", "") is None:
                predictor["attention_mechanism"] = "none"
            if "directory" in predictor:
                predictor["directory"] = path(predictor["directory"])
            model["predictor"] = plain(predictor)
        sections["model"] = {
            k: plain(v) if isinstance(v, dict) else v for k, v in model.items()
        }
    if "loss" in resolved:
        loss = plain(dict(resolved["loss"]))
        if "label_weights" in loss:
            loss["label_weights"] = {k: w for k, w in loss["label_weights"]}
        sections["loss"] = loss
    if "train" in resolved:
        train = plain(dict(resolved["train"]))
        if "run_dir" in train:
            train["run_dir"] = path(train["run_dir"])
        sections["train"] = train
    return sections


def save_generator(folder: Path, model) -> None:
    """``generator.keras``: ``model.save`` to a temporary file, then rename."""
    path = folder / GENERATOR
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=".keras", dir=path.parent
    )
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_camera_model(folder: Path, summary: dict) -> None:
    """``camera_model.json``: the fitted camera model's summary."""
    write_atomic(folder / CAMERA_MODEL, json.dumps(summary, indent=2))


def write_critic(folder: Path, critic_config: dict) -> None:
    """``critic.json``: the critic's Keras config (fitted camera constants included)."""
    write_atomic(folder / CRITIC, json.dumps(critic_config))


def read_critic(folder: Path) -> dict | None:
    """The critic's Keras config; None for runs trained before it was written."""
    path = folder / CRITIC
    return json.loads(path.read_text()) if path.exists() else None


def write_label_recovery(folder: Path, recovery: dict) -> None:
    """``label_recovery.json``: the training predictor's end-of-training figures."""
    write_atomic(folder / LABEL_RECOVERY, json.dumps(recovery, indent=2))
