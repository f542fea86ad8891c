"""Run folders: one per training run, reproducible, resumable, never deleted.

Made here (:func:`claim_run_folder`) with ``config.yml``, ``versions.json`` and
``run.json``; the other files are written and read through :mod:`ctgans.runs.files`
and named in :mod:`ctgans.runs.layout`.

A run folder holds the resolved config, package versions, the seed, CSV and
TensorBoard logs, checkpoints, sample grids and the final generator. Running the
same command again resumes the newest run folder of that config; ``--fresh`` starts
a new one. A run folder made with other settings is never resumed silently;
which settings count is :mod:`ctgans.runs.settings`' config hash.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import secrets
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from ctgans.config import Config
from ctgans.exceptions import ConfigError
from ctgans.runs.layout import CONFIG, RUN, VERSIONS, write_atomic
from ctgans.runs.lock import RunLock, acquire, check_free
from ctgans.runs.settings import config_hash, legacy_hashes, resolved_config

PACKAGES = (
    "ctgans",
    "tensorflow",
    "keras",
    "ctlearn",
    "ctapipe",
    "dl1-data-handler",
    "numpy",
    "tables",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def recorded_config_hash(folder: Path) -> str | None:
    """The config hash in a run folder's ``run.json``; None if it has none."""
    try:
        return json.loads((folder / RUN).read_text()).get("config_hash")
    except (ValueError, AttributeError, OSError):
        return None


def run_folder_path(cfg: Config, index: int) -> Path:
    """The ``index``-th run folder of ``cfg``: ``<train.run_dir>/<stem>-NNN``."""
    return cfg.train.run_dir / f"{cfg.source.stem}-{index:03d}"


def run_index(folder: Path) -> int:
    """The index ``NNN`` of a run folder ``<stem>-NNN``."""
    return int(folder.name.rsplit("-", 1)[1])


def _runs_of(cfg: Config) -> list[Path]:
    stem = cfg.source.stem
    root = cfg.train.run_dir
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob(f"{stem}-[0-9][0-9][0-9]") if p.is_dir())


def check_run_folder(cfg: Config, fresh: bool) -> Path | None:
    """The run folder that ``cfg`` resumes, or None for a new one; writes nothing.

    Raises ConfigError when the newest run folder of this config name was made
    with other settings (resuming it would mix two experiments) or its
    ``run.json`` is unreadable, or another process trains it
    (:func:`~ctgans.runs.lock.check_free`). Called before any data is read.
    """
    runs = _runs_of(cfg)
    if not runs or fresh:
        return None
    latest = runs[-1]
    meta = latest / RUN
    if not meta.is_file():
        return None
    digest = config_hash(cfg)
    try:
        made_with = json.loads(meta.read_text()).get("config_hash")
    except (ValueError, AttributeError, OSError) as err:
        raise ConfigError(
            f"run folder {latest}: unreadable run.json ({type(err).__name__}); "
            "pass --fresh to start a new run"
        ) from None
    if made_with != digest and made_with not in legacy_hashes(
        cfg, _recorded_config(latest)
    ):
        raise ConfigError(
            f"run folder {latest} was made with another config "
            f"(hash {made_with}, this config {digest}); "
            "pass --fresh to start a new run"
        )
    check_free(latest)  # another process training it
    return latest


def _recorded_config(folder: Path) -> dict | None:
    """The run folder's resolved ``config.yml`` as plain data; None if unreadable."""
    try:
        recorded = yaml.safe_load((folder / CONFIG).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def open_run_folder(cfg: Config, fresh: bool) -> tuple[Path, bool]:
    """The run folder to use and whether it is resumed (without locking it).

    Raises ConfigError as :func:`check_run_folder` does.
    """
    folder, resumed, _ = _open(cfg, fresh, locked=False)
    return folder, resumed


def claim_run_folder(cfg: Config, fresh: bool) -> tuple[Path, bool, RunLock]:
    """:func:`open_run_folder`, locked for this process (:mod:`.lock`).

    A new folder is locked before it gets its final name, so a second process
    never finds it unlocked; when two processes make the same new folder at
    once, the loser finds the winner's and is refused (or, with ``fresh``, makes
    the next one). Raises ConfigError when another process trains the folder.
    """
    return _open(cfg, fresh, locked=True)


def _open(cfg: Config, fresh: bool, locked: bool):
    while True:
        resumed = check_run_folder(cfg, fresh)
        if resumed is not None:
            return resumed, True, acquire(resumed) if locked else None
        made = _make_run_folder(cfg, locked)
        if made is not None:
            folder, lock = made
            return folder, False, lock


def _make_run_folder(cfg: Config, locked: bool):
    """A new, complete run folder and its lock; None if another process made
    one of that name first."""
    runs = _runs_of(cfg)
    digest = config_hash(cfg)
    folder = run_folder_path(cfg, run_index(runs[-1]) + 1 if runs else 1)
    # Filled under a temporary name and renamed: a run folder without run.json
    # (killed while being made) would otherwise make the next run start another.
    try:
        cfg.train.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = cfg.train.run_dir / f".{folder.name}.{secrets.token_hex(4)}.tmp"
        tmp.mkdir()
    except OSError as err:
        raise ConfigError(
            f"cannot create run folder {folder}: {err.strerror} (train.run_dir)"
        ) from None
    lock = acquire(tmp) if locked else None
    try:
        write_atomic(
            tmp / CONFIG, yaml.safe_dump(resolved_config(cfg), sort_keys=False)
        )
        write_atomic(tmp / VERSIONS, json.dumps(package_versions(), indent=2))
        write_atomic(
            tmp / RUN,
            json.dumps(
                {
                    "config_hash": digest,
                    "config_file": str(cfg.source),
                    "seed": cfg.seed,
                },
                indent=2,
            ),
        )
        os.rename(tmp, folder)
    except OSError as err:
        if lock is not None:
            lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY) and folder.is_dir():
            return None  # made by another process meanwhile
        raise
    except BaseException:
        if lock is not None:
            lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if lock is not None:
        lock.moved_to(folder)
    return folder, lock
