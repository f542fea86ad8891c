"""The run folder's owner: a resolved config.yml reads back through the loader."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from ctgans.config import config_from_dict, load_config
from ctgans.config_types import CriticConfig, ModelConfig
from ctgans.exceptions import ConfigError, DataError
from ctgans.runs.files import read_config
from ctgans.runs.folder import (
    check_run_folder,
    open_run_folder,
    resolved_config,
    run_folder_path,
)
from ctgans.runs.layout import CONFIG, RUN
from ctgans.runs.settings import changed_settings, config_hash

PROJECT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((PROJECT / "configs").rglob("*.yml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_resolved_config_reads_back_as_the_same_config(path, tmp_path):
    cfg = load_config(path, check_files=False)
    (tmp_path / CONFIG).write_text(
        yaml.safe_dump(resolved_config(cfg), sort_keys=False)
    )
    back = read_config(tmp_path)
    assert dataclasses.replace(back, source=cfg.source) == cfg


def test_a_bad_value_in_config_yml_is_refused_by_the_loader(tmp_path):
    cfg = load_config(CONFIGS[0], check_files=False)
    resolved = resolved_config(cfg)
    resolved["model"]["critic"]["conditioning"] = "telepathy"
    (tmp_path / CONFIG).write_text(yaml.safe_dump(resolved))
    with pytest.raises(DataError, match=r"model\.critic\.conditioning"):
        read_config(tmp_path)


def test_relative_paths_resolve_from_the_run_folder(tmp_path):
    cfg = load_config(CONFIGS[0], check_files=False)
    resolved = resolved_config(cfg)
    (tmp_path / "shared" / "cache").mkdir(parents=True)
    resolved["data"]["cache_dir"] = "shared/cache"
    run = tmp_path / "runs" / "x-001"
    run.mkdir(parents=True)
    (run / CONFIG).write_text(yaml.safe_dump(resolved))
    assert read_config(run).data.cache_dir == tmp_path / "shared" / "cache"


# --- which run folder a config resumes: the config hash -------------------------


@pytest.fixture
def smoke(tmp_path):
    """configs/smoke.yml with its run folders under ``tmp_path``."""
    cfg = load_config(PROJECT / "configs" / "smoke.yml", check_files=False)
    train = dataclasses.replace(cfg.train, run_dir=tmp_path / "runs")
    return dataclasses.replace(cfg, train=train)


def _legacy_run_folder(cfg, hashed: dict, recorded: dict | None = None) -> Path:
    """A run folder as made before the hash left defaults out: ``run.json`` holds
    the hash of every key of ``hashed`` but train.epochs; ``config.yml`` holds
    ``recorded`` (default ``hashed``)."""
    folder = run_folder_path(cfg, 1)
    folder.mkdir(parents=True)
    (folder / CONFIG).write_text(yaml.safe_dump(recorded or hashed, sort_keys=False))
    state = copy.deepcopy(hashed)
    state["train"].pop("epochs")
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    (folder / RUN).write_text(json.dumps({"config_hash": digest[:16], "seed": 0}))
    return folder


def _with_new_critic_key(cfg, value=None):
    """``cfg`` as if the code had a new key ``model.critic.new_key`` (default 3)
    and a new section ``model.extra`` (defaults only); ``value`` sets new_key."""
    critic_type = dataclasses.make_dataclass(
        "Critic",
        [("new_key", int, dataclasses.field(default=3))],
        bases=(CriticConfig,),
        frozen=True,
    )
    extra_type = dataclasses.make_dataclass(
        "Extra", [("flag", bool, dataclasses.field(default=False))], frozen=True
    )
    model_type = dataclasses.make_dataclass(
        "Model",
        [("extra", extra_type, dataclasses.field(default_factory=extra_type))],
        bases=(ModelConfig,),
        frozen=True,
    )
    critic = dataclasses.asdict(cfg.model.critic) | (
        {} if value is None else {"new_key": value}
    )
    model = {f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(cfg.model)}
    model["critic"] = critic_type(**critic)
    return dataclasses.replace(cfg, model=model_type(**model))


def test_only_settings_that_differ_from_their_defaults_are_hashed():
    """Every dataclass default is the loader's default for a missing key."""
    cfg = config_from_dict(
        {"data": {"signal": ["gamma.dl1.h5"]}}, Path("minimal.yml"), check_files=False
    )
    assert changed_settings(cfg) == {
        "data": {"signal": ["gamma.dl1.h5"]},
        "loss": {"label_weights": [["energy", 1.0], ["cameradirection", 1.0]]},
        "seed": 0,
    }


def test_a_key_added_to_the_code_at_its_default_keeps_the_hash(smoke):
    assert config_hash(_with_new_critic_key(smoke)) == config_hash(smoke)
    assert config_hash(_with_new_critic_key(smoke, 4)) != config_hash(smoke)
    longer = dataclasses.replace(
        smoke, train=dataclasses.replace(smoke.train, epochs=9)
    )
    assert config_hash(longer) == config_hash(smoke)


def test_a_run_folder_resumes_after_a_key_is_added_to_the_code(smoke):
    folder, resumed = open_run_folder(smoke, fresh=False)
    assert not resumed
    assert open_run_folder(_with_new_critic_key(smoke), fresh=False) == (folder, True)
    with pytest.raises(ConfigError, match="was made with another config"):
        open_run_folder(_with_new_critic_key(smoke, 4), fresh=False)


def test_a_run_folder_with_the_legacy_full_hash_resumes(smoke):
    folder = _legacy_run_folder(smoke, resolved_config(smoke))
    assert check_run_folder(smoke, fresh=False) == folder


def test_a_legacy_run_folder_made_before_a_key_existed_resumes(smoke):
    before = resolved_config(smoke)
    del before["model"]["generator"]["canvas_scale"]  # at its default, 1
    folder = _legacy_run_folder(smoke, before)
    assert check_run_folder(smoke, fresh=False) == folder


def test_a_legacy_hash_newer_than_its_config_yml_resumes(smoke):
    """run.json rewritten by later code (label_film existed), config.yml older."""
    hashed = resolved_config(smoke)
    del hashed["model"]["generator"]["canvas_scale"]
    recorded = copy.deepcopy(hashed)
    del recorded["model"]["generator"]["label_film"]
    folder = _legacy_run_folder(smoke, hashed, recorded)
    assert check_run_folder(smoke, fresh=False) == folder


def test_a_legacy_run_folder_is_refused_when_a_setting_changed(smoke):
    before = resolved_config(smoke)
    del before["model"]["critic"]["minibatch_std"]
    _legacy_run_folder(smoke, before)
    critic = dataclasses.replace(smoke.model.critic, minibatch_std=True)
    other = dataclasses.replace(
        smoke, model=dataclasses.replace(smoke.model, critic=critic)
    )
    with pytest.raises(ConfigError, match="was made with another config"):
        check_run_folder(other, fresh=False)
    steps = dataclasses.replace(smoke.loss, critic_steps=smoke.loss.critic_steps + 1)
    with pytest.raises(ConfigError, match="was made with another config"):
        check_run_folder(dataclasses.replace(smoke, loss=steps), fresh=False)
