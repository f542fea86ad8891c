"""Config validation: each bad input gives one line naming key, file, expected."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ctgans.config import load_config
from ctgans.exceptions import ConfigError

PROJECT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, data_extra: str = "", top_extra: str = "") -> Path:
    signal = tmp_path / "signal.dl1.h5"
    signal.write_bytes(b"")  # existence is all load_config checks
    text = (
        f"data:\n  signal: [{signal}]\n{textwrap.indent(data_extra, '  ')}{top_extra}"
    )
    path = tmp_path / "cfg.yml"
    path.write_text(text)
    return path


def test_every_shipped_config_validates():
    for path in sorted((PROJECT / "configs").glob("*.yml")):
        cfg = load_config(path, check_files=False)
        assert cfg.data.signal, path


def test_defaults(tmp_path):
    cfg = load_config(_config(tmp_path))
    assert cfg.data.mode == "mono"
    assert cfg.data.channels == ("image",)
    assert cfg.data.label_columns == (
        "log_true_energy",
        "cam_coord_offset_x",
        "cam_coord_offset_y",
    )
    assert cfg.loss.label_weights == (("energy", 1.0), ("cameradirection", 1.0))
    assert cfg.seed == 0


def test_cuts_become_quality_query_expressions(tmp_path):
    extra = (
        "cuts:\n  hillas_intensity: {min: 50}\n"
        "  leakage_intensity_width_2: {max: 0.2}\n"
    )
    cfg = load_config(_config(tmp_path, extra))
    assert [c.expression() for c in cfg.data.cuts] == [
        "(hillas_intensity >= 50.0)",
        "(leakage_intensity_width_2 <= 0.2)",
    ]


BAD = [
    # (data section extra, top-level extra, fragment expected in the message)
    ("", "bogus: 1\n", "unknown key `bogus`"),
    ("colour: red\n", "", "unknown key `data.colour`"),
    (
        "mode: triple\n",
        "",
        "`data.mode` must be one of mono, stereo; received 'triple'",
    ),
    (
        "validation_fraction: 1.5\n",
        "",
        "`data.validation_fraction` must be a number in",
    ),
    ("validation_fraction: abc\n", "", "`data.validation_fraction` must be a number"),
    ("channels: [image, colour]\n", "", "`data.channels` must be a list from"),
    ("channels: []\n", "", "`data.channels` must be a non-empty list"),
    ("labels: [energy, energy]\n", "", "`data.labels` must be distinct items"),
    ("labels: [type]\n", "", "non-empty `data.background` when `type` is a label"),
    ("mapper: {type: Magic}\n", "", "`data.mapper.type` must be one of"),
    (
        "mapper: {image_shape: 2}\n",
        "",
        "`data.mapper.image_shape` must be an integer in",
    ),
    (
        "cuts:\n  hillas_intensity: {}\n",
        "",
        "`data.cuts.hillas_intensity` must be a mapping with `min` and/or `max`",
    ),
    ("cuts:\n  hillas_intensity: {min: 5, max: 1}\n", "", "`min` <= `max`"),
    (
        "telescopes: {ids: [0]}\n",
        "",
        "`data.telescopes.ids` must be a list of integers",
    ),
    (
        "background: [/nonexistent/file.h5]\n",
        "",
        "`data.background` must be an existing",
    ),
    ("background: ['/nonexistent/*.h5']\n", "", "must be a glob matching files"),
    ("", "seed: -1\n", "`seed` must be an integer in [0, inf]; received -1"),
    ("", "seed: 1.5\n", "`seed` must be an integer; received 1.5"),
    ("", "train: {batch_size: 0}\n", "`train.batch_size` must be an integer in [1"),
    ("", "loss: {critic_steps: 0}\n", "`loss.critic_steps` must be an integer in [1"),
    ("", "loss: {label_weights: {type: 1}}\n", "unknown key `loss.label_weights.type`"),
    ("", "model: {critic: {conditioning: maybe}}\n", "`model.critic.conditioning`"),
    ("", "train: {strategy: tpu}\n", "`train.strategy` must be one of"),
    ("", "model: {precision: float16}\n", "`model.precision` must be one of float32"),
    ("", "model: {critic: {minibatch_std: 2}}\n", "`model.critic.minibatch_std`"),
    (
        "labels: [energy]\n",
        "model: {critic: {source_coordinates: true}}\n",
        "model.critic.source_coordinates: needs the cameradirection label",
    ),
    (
        "",
        "model: {critic: {charge_views: [0]}}\n",
        "`model.critic.charge_views` must be a list of numbers in [0.01, 1000.0]; "
        "received item 0",
    ),
    ("", "model: {critic: {charge_views: 0.3}}\n", "`model.critic.charge_views` must"),
    (
        "channels: [peak_time, image]\n",
        "model: {critic: {charge_views: [0.3]}}\n",
        "model.critic.charge_views: needs data.mode mono with the image channel first",
    ),
    (
        "",
        "model: {critic: {mapper_views: [SquareMapper]}}\n",
        "`model.critic.mapper_views` must be a list from BilinearMapper, "
        "BicubicMapper, NearestNeighborMapper; received item 'SquareMapper'",
    ),
    (
        "channels: [peak_time, image]\n",
        "model: {critic: {mapper_views: [NearestNeighborMapper]}}\n",
        "model.critic.mapper_views: needs data.mode mono with the image channel first",
    ),
    ("", "loss: {label_warmup_epochs: -1}\n", "`loss.label_warmup_epochs` must be"),
    ("", "loss: {label_loss: relative}\n", "`loss.label_loss` must be one of absolute"),
    (
        "",
        "loss: {label_loss: matched}\ntrain: {label_source: sampled}\n",
        "loss.label_loss: matched compares the generated images with the real",
    ),
    ("", "loss: {moment_weight: -1}\n", "`loss.moment_weight` must be a number"),
    (
        "",
        "model: {generator: {envelope_length: learned,\n"
        "  envelope_length_deblur: true}}\n",
        "model.generator.envelope_length_deblur: true needs "
        "model.generator.envelope_length: fitted",
    ),
    (
        "",
        "loss: {moment_weight: 1}\ntrain: {label_source: sampled}\n",
        "loss.moment_weight: compares the generated images with the real images",
    ),
    (
        "labels: [cameradirection]\n",
        "loss: {moment_weight: 1}\n",
        "loss.moment_weight: follows the moments' trend with energy, so it needs",
    ),
    (
        "channels: [peak_time, image]\n",
        "loss: {moment_weight: 1}\n",
        "loss.moment_weight: needs data.mode mono with the image channel first",
    ),
    ("", "train: {critic_learning_rate: 1e-4x}\n", "must be a number; received"),
    (
        "labels: [energy, impact]\nmode: stereo\n",
        "",
        "`data.labels` must be without impact in stereo mode",
    ),
    ("labels: [impact]\n", "", "`data.labels` must be at least one label besides"),
    (
        "labels: [energy, impact]\n",
        "loss: {label_weights: {impact: 1}}\n",
        "unknown key `loss.label_weights.impact`",
    ),
]


def test_exponent_numbers_without_a_dot_are_numbers(tmp_path):
    # YAML 1.1 reads 2e-4 as text; a learning rate written so is still a number.
    path = _config(
        tmp_path,
        top_extra="train: {generator_learning_rate: 2e-4}\n"
        "loss: {label_warmup_epochs: 3}\n",
    )
    cfg = load_config(path)
    assert cfg.train.generator_learning_rate == pytest.approx(2e-4)
    assert cfg.loss.label_warmup_epochs == 3.0


@pytest.mark.parametrize("data_extra,top_extra,fragment", BAD)
def test_bad_values_name_key_and_file(tmp_path, data_extra, top_extra, fragment):
    path = _config(tmp_path, data_extra, top_extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert fragment in message
    assert str(path) in message
    assert "\n" not in message


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("data:\n  signal: [a.h5\n  mode: mono\n")
    with pytest.raises(ConfigError, match=r"broken.yml: YAML syntax error at line \d+"):
        load_config(path)


def test_missing_signal_file(tmp_path):
    path = tmp_path / "cfg.yml"
    path.write_text(f"data:\n  signal: [{tmp_path}/missing.h5]\n")
    with pytest.raises(
        ConfigError,
        match=r"`data.signal` must be an existing file; "
        r"received '.*missing.h5' does not exist",
    ):
        load_config(path)


def test_missing_data_section(tmp_path):
    path = tmp_path / "cfg.yml"
    path.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="missing key `data`"):
        load_config(path)


def test_toy_files_may_be_missing(tmp_path):
    path = tmp_path / "cfg.yml"
    toy = tmp_path / "toy"
    path.write_text(
        f"data:\n  toy_dataset: {{directory: {toy}}}\n"
        f"  signal: [{toy}/gamma_diffuse.dl1.h5]\n"
    )
    assert load_config(path).data.toy_dataset.directory == toy


def test_cli_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path):
    path = _config(
        tmp_path, "mode: triple\ncache_dir: " + str(tmp_path / "cache") + "\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ctgans.data", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: `data.mode` must be one of mono, stereo")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cache").exists()
