"""The smoke config made self-contained for tests (imported by test files)."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def smoke_config(folder: Path, toy_pair, **changes: str) -> Path:
    """configs/smoke.yml on the toy files, 1 epoch, everything under ``folder``,
    with ``changes`` (old text -> new text) applied."""
    text = (PROJECT / "configs" / "smoke.yml").read_text()
    replacements = {
        "signal: [data/smoke/gamma_diffuse.dl1.h5]": f"signal: [{toy_pair['gamma']}]",
        "directory: data/smoke": f"directory: {folder / 'toy'}",
        "cache_dir: cache": f"cache_dir: {folder / 'cache'}",
        "directory: predictors": f"directory: {folder / 'pred'}",
        "run_dir: runs": f"run_dir: {folder / 'runs'}",
        "epochs: 2": "epochs: 1",
        "strategy: mirrored": "strategy: default",
        **changes,
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "tiny.yml"
    path.write_text(text)
    return path
