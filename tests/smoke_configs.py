"""The smoke config made self-contained for tests (imported by test files)."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def _localised(folder: Path, toy_pair) -> str:
    """configs/smoke.yml on the toy gamma file, every output under ``folder``."""
    text = (PROJECT / "configs" / "smoke.yml").read_text()
    replacements = {
        "signal: [data/smoke/gamma_diffuse.dl1.h5]": f"signal: [{toy_pair['gamma']}]",
        "directory: data/smoke": f"directory: {folder / 'toy'}",
        "cache_dir: cache": f"cache_dir: {folder / 'cache'}",
        "directory: predictors": f"directory: {folder / 'pred'}",
        "run_dir: runs": f"run_dir: {folder / 'runs'}",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def smoke_config(folder: Path, toy_pair, **changes: str) -> Path:
    """The localised smoke config, 1 epoch, no distribution, with ``changes``
    (old text -> new text) applied; written to ``folder/tiny.yml``."""
    text = _localised(folder, toy_pair)
    for old, new in {
        "epochs: 2": "epochs: 1",
        "strategy: mirrored": "strategy: default",
        **changes,
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "tiny.yml"
    path.write_text(text)
    return path


def smoke_config_with(folder: Path, toy_pair, **train) -> Path:
    """The localised smoke config with ``key: value`` set for the given keys of the
    train/loss sections; written to ``folder/smoke.yml``."""
    text = _localised(folder, toy_pair)
    for key, value in train.items():  # the last occurrence: the train/loss section
        head, _, tail = text.rpartition(f"  {key}: ")
        text = head + f"  {key}: {value}  # was " + tail
    path = folder / "smoke.yml"
    path.write_text(text)
    return path
