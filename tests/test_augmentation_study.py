"""scripts/augmentation_study.py: bad input, and the whole chain on tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from smoke_configs import PROJECT, smoke_config

SCRIPT = PROJECT / "scripts" / "augmentation_study.py"


def _study(*args, cwd: Path):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    cases = [
        (["run", "--output", "out", "--gamma-file", "missing.h5"], "missing.h5"),
        (["run", "--output", "out", "--n", "0"], "--n must be >= 1"),
        (["run", "--output", "out", "--test-fraction", "1.5"], "--test-fraction"),
        (["run", "--output", "out", "--seeds"], "--seeds"),
    ]
    for args, word in cases:
        result = _study(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        err = result.stderr.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        assert word in err, (word, err)
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_quick_study_runs_end_to_end(tmp_path, toy_pair):
    from ctgans.config import load_config
    from ctgans.train.run import run

    run_folder = run(load_config(smoke_config(tmp_path, toy_pair)), fresh=True)
    output = tmp_path / "study"
    args = [
        run_folder,
        "--output",
        output,
        "--quick",
        "--generated-cuts",
        "none",
        "--gamma-file",
        toy_pair["gamma"],
        "--proton-file",
        toy_pair["proton"],
    ]
    result = _study(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    study = json.loads((output / "results.json").read_text())
    assert set(study["results"]) == {"a", "b", "c"}
    assert study["generated_particles"] == ["gamma"]
    for arm, rows in study["results"].items():
        assert [r["seed"] for r in rows] == [0, 1], arm
        for row in rows:
            assert 0 <= row["type_auc"] <= 1
            assert row["energy_resolution"] > 0
    a, b, c = (study["results"][k][0] for k in "abc")
    assert b["n_gamma_train"] == c["n_gamma_train"] == a["n_gamma_train"] + 20
    assert b["n_generated"] == 20 and c["n_generated"] == 0
    assert a["n_proton_train"] == b["n_proton_train"] == c["n_proton_train"]
    table = (output / "table.md").read_text()
    assert table.count("\n| (") == 3
    assert "add gammas only" in table
    assert (output / "generated_gamma.dl1.h5").is_file()
    again = _study(*args, cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr
