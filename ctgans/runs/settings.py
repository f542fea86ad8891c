"""The settings a run folder is made with: its resolved config and the config hash.

A run folder's ``run.json`` records :func:`config_hash`; training resumes the folder
only when the config hashes the same (:func:`~ctgans.runs.folder.check_run_folder`).
The hash covers the settings that differ from their defaults, so a key added to the
code later, at its default, leaves the hash of every existing run folder valid.
``train.epochs`` is left out: a run may be resumed to train longer.

Run folders made before this rule hold the hash of every resolved key
(:func:`legacy_hashes`); they resume too, also after keys were added to the code.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
from pathlib import Path

from ctgans.config import Config

#: Keys that may each have been added since a legacy hash was written are tried
#: in every combination up to this many; beyond it, all present or all absent.
MAX_ADDED_KEYS = 10


def resolved_config(cfg: Config) -> dict:
    """The full config with defaults filled in, as plain YAML-able data."""

    def every_field(value) -> dict:
        return {
            f.name: _plain(getattr(value, f.name), every_field)
            for f in dataclasses.fields(value)
        }

    state = every_field(cfg)
    state.pop("source")
    return state


def changed_settings(cfg: Config) -> dict:
    """The settings of ``cfg`` that differ from their defaults, as plain data.

    A default is a dataclass field's default (:mod:`ctgans.config_types`): the
    value the loader gives a key that the YAML file leaves out. A section whose
    settings are all at their defaults is left out as a whole.
    """
    state = _changed(cfg)
    state.pop("source")
    state.get("train", {}).pop("epochs", None)
    return state


def config_hash(cfg: Config) -> str:
    """Hash of the settings a run depends on (:func:`changed_settings`)."""
    return _digest(changed_settings(cfg))


def legacy_hashes(cfg: Config, recorded: dict | None) -> set[str]:
    """The hashes that run folders made before :func:`config_hash` hold for ``cfg``.

    Those hashed every resolved key but ``train.epochs``. Keys that the run
    folder's ``config.yml`` (``recorded``, None when unreadable) lacks and that
    ``cfg`` has at their defaults were added to the code since; each is tried
    left out and kept, since the hash may be newer than ``config.yml``.
    """
    state = resolved_config(cfg)
    state["train"].pop("epochs")
    added = []
    if recorded is not None:
        added = _added_since(state, recorded, changed_settings(cfg))
    if len(added) <= MAX_ADDED_KEYS:
        subsets = itertools.chain.from_iterable(
            itertools.combinations(added, n) for n in range(len(added) + 1)
        )
    else:
        subsets = iter(((), tuple(added)))
    return {_digest(_without(state, keys)) for keys in subsets}


def _plain(value, fields_of):
    """``value`` as YAML-able data; a dataclass becomes ``fields_of(value)``."""
    if dataclasses.is_dataclass(value):
        return fields_of(value)
    if isinstance(value, tuple | list):
        return [_plain(v, fields_of) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _changed(value) -> dict:
    """The fields of the dataclass ``value`` that differ from their defaults."""
    changed = {}
    for f in dataclasses.fields(value):
        current = getattr(value, f.name)
        default = _default(f)
        if current == default:
            continue
        plain = _plain(current, _changed)
        if plain == {} and (
            default is dataclasses.MISSING or dataclasses.is_dataclass(default)
        ):
            continue  # a section with every setting at its default
        changed[f.name] = plain
    return changed


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _added_since(state: dict, recorded: dict, changed: dict, path=()) -> list:
    """Key paths of ``state`` that ``recorded`` lacks and ``changed`` does not hold."""
    added = []
    for key, value in state.items():
        if key not in recorded:
            if key not in changed:
                added.append((*path, key))
        elif isinstance(value, dict) and isinstance(recorded[key], dict):
            added += _added_since(
                value, recorded[key], changed.get(key) or {}, (*path, key)
            )
    return added


def _without(state: dict, key_paths) -> dict:
    state = copy.deepcopy(state)
    for *sections, key in key_paths:
        section = state
        for name in sections:
            section = section[name]
        section.pop(key)
    return state


def _digest(state: dict) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]
