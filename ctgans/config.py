"""YAML configuration -> frozen, typed dataclasses, validated once.

:func:`load_config` is the one entry point; code below takes the objects it returns
(or plain arguments), never the raw dict. A bad value raises
:class:`~ctgans.exceptions.ConfigError` whose one-line message names the key path, the
file, what was expected and what was received.

Every check on user input lives in the ``ctgans.config_*`` modules:
:mod:`~ctgans.config_types` (the dataclasses), :mod:`~ctgans.config_schema` (typed
access to one YAML mapping), :mod:`~ctgans.config_readers` (one reader per section)
and :mod:`~ctgans.config_checks` (checks across sections); the names other code
uses are imported from here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ctgans.config_checks import check_camera_model, check_model, check_output_folders
from ctgans.config_readers import (
    CHANNELS,
    LABELS,
    MAPPERS,
    read_data,
    read_loss,
    read_model,
    read_train,
)
from ctgans.config_schema import Section
from ctgans.config_types import (
    EMBEDDED_EVENTS,
    LABEL_COLUMNS,
    TOY_FILES,
    Config,
    DataConfig,
    PredictorConfig,
)
from ctgans.exceptions import ConfigError

__all__ = [
    "CHANNELS",
    "EMBEDDED_EVENTS",
    "LABEL_COLUMNS",
    "LABELS",
    "MAPPERS",
    "TOY_FILES",
    "Config",
    "DataConfig",
    "PredictorConfig",
    "config_from_dict",
    "load_config",
]


def load_config(path: str | Path, check_files: bool = True) -> Config:
    """Read and validate a YAML config.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    check_files : bool
        Check that the data files exist (skipped for the toy dataset, which is
        simulated on demand).

    Raises
    ------
    ConfigError
        One line naming the key, the file, what was expected and what was received.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(_utf8_text(path))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    return config_from_dict(raw, path, check_files)


def config_from_dict(raw, source: Path, check_files: bool = True) -> Config:
    """Validate a config already read from YAML (``source`` names it in errors).

    :func:`load_config` reads files through this; a run folder's resolved
    ``config.yml`` is read back through it by :mod:`ctgans.runs`.
    """
    path = Path(source)
    root = Section(raw if raw is not None else {}, "", path)
    root.allow("data", "model", "loss", "train", "seed")
    data = read_data(root.section("data", required=True), check_files)
    cfg = Config(
        source=path,
        data=data,
        model=read_model(root.section("model")),
        loss=read_loss(root.section("loss"), data.labels),
        train=read_train(root.section("train")),
        seed=root.integer("seed", 0, minimum=0),
    )
    check_camera_model(cfg)
    check_model(cfg)
    if check_files:
        check_output_folders(cfg)
    return cfg


def _utf8_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - data.rfind(b"\n", 0, err.start)
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at line {line}, "
            f"column {column}); expected a YAML config file in UTF-8"
        ) from None
