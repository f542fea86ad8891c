"""The run folder's owner: a resolved config.yml reads back through the loader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from ctgans.config import load_config
from ctgans.exceptions import DataError
from ctgans.runs.files import read_config
from ctgans.runs.folder import resolved_config
from ctgans.runs.layout import CONFIG

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yml"))


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
