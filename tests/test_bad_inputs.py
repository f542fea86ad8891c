"""Every bad input, in one table: one line ``error: …``, exit status 2, nothing written.

``BAD`` lists each case: how the bad input is made in the test's folder, the entry
point and its arguments, and the exact message (``{name}`` fields are the paths the
case made; ``{*}`` stands for text that is not ours, e.g. an HDF5 library message).
Each case runs the command's ``main(argv)`` in-process, in a folder of its own, and
checks that stdout is empty, stderr is exactly ``error: <message>``, the exit status
is 2, and that no file was created, changed or removed in its folder or in the
shared inputs (path, size, modification time and content hash of every file).
Two cases also run as ``python -m ctgans.train`` to prove the real command.

``ACCEPTED`` are the inputs that are not refused: NaN/inf pixels (skipped and
counted) and labels outside the training range (generated, with a warning).
The README's troubleshooting table lists both.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tables

PROJECT = Path(__file__).resolve().parents[1]
WILDCARD = "{*}"


# --- the shared inputs: a toy gamma file, its cache, a predictor, a 1-epoch run ---


@dataclass(frozen=True)
class World:
    """Inputs shared by every case (never modified: they are in every snapshot)."""

    root: Path
    gamma: Path
    config_text: str
    run: Path
    n_examples: int
    n_train: int

    def config(self, folder: Path, *edits: tuple[str, str], name="cfg.yml") -> Path:
        """The world's config with ``(old, new)`` text edits, written to folder."""
        text = self.config_text
        for old, new in edits:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        path = folder / name
        path.write_text(text)
        return path

    @property
    def predictor(self) -> Path:
        (folder,) = [p for p in (self.root / "pred").iterdir() if p.is_dir()]
        return folder


def _view_on_another_grid(geometry, mapper, image_shape):
    """dl1-data-handler's mapper, two pixels larger for any but the data's."""
    from ctgans.generate.inverse_mapping import build_mapper

    if mapper != "BilinearMapper":
        image_shape += 2
    return build_mapper(geometry, mapper, image_shape)


def _world_config(root: Path, gamma: Path) -> str:
    """configs/smoke.yml on the toy gamma file, 1 epoch, outputs under root."""
    text = (PROJECT / "configs" / "smoke.yml").read_text()
    text = re.sub(r"  toy_dataset:\n(    .*\n)+", "", text)
    for old, new in {
        "signal: [data/smoke/gamma_diffuse.dl1.h5]": f"signal: [{gamma}]",
        "cache_dir: cache": f"cache_dir: {root / 'cache'}",
        "directory: predictors": f"directory: {root / 'pred'}",
        "epochs: 2": "epochs: 1",
        "strategy: mirrored": "strategy: default",
    }.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def world(tmp_path_factory, toy_pair) -> World:
    from ctgans.config import load_config
    from ctgans.data import prepare_dataset
    from ctgans.train.run import run

    root = tmp_path_factory.mktemp("bad_inputs_world")
    text = _world_config(root, toy_pair["gamma"])
    text = text.replace("run_dir: runs", f"run_dir: {root / 'runs'}")
    path = root / "world.yml"
    path.write_text(text)
    cfg = load_config(path)
    folder = run(cfg, fresh=True)
    dataset = prepare_dataset(cfg.data, cfg.seed)
    n_examples, n_train = len(dataset.images), int((~dataset.is_validation).sum())
    # Cases train with this config in their own folder: run folders land there.
    case_text = text.replace(f"run_dir: {root / 'runs'}", "run_dir: runs")
    return World(root, toy_pair["gamma"], case_text, folder, n_examples, n_train)


# --- ways to make bad files ---


def _copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def _with_attribute(w: World, tmp: Path, version: str) -> Path:
    path = _copy(w.gamma, tmp / f"model_{version}.dl1.h5")
    with tables.open_file(str(path), "a") as h5:
        h5.root._v_attrs["CTA PRODUCT DATA MODEL VERSION"] = version
    return path


def _without_node(w: World, tmp: Path, node: str) -> Path:
    path = _copy(w.gamma, tmp / "no_truth.dl1.h5")
    with tables.open_file(str(path), "a") as h5:
        h5.remove_node(node)
    return path


def _without_column(w: World, tmp: Path, column: str) -> Path:
    path = _copy(w.gamma, tmp / f"no_{column}.dl1.h5")
    with tables.open_file(str(path), "a") as h5:
        for table in list(h5.root.dl1.event.telescope.images):
            data = table.read()
            names = [n for n in data.dtype.names if n != column]
            parent, name = table._v_parent, table.name
            table.remove()
            h5.create_table(parent, name, data[names])
    return path


def _nonfinite(w: World, tmp: Path, rows_per_table: int | None) -> tuple[Path, int]:
    """A copy whose first selected images (all with None) are NaN or inf."""
    path = _copy(w.gamma, tmp / "nonfinite.dl1.h5")
    n_bad = 0
    with tables.open_file(str(path), "a") as h5:
        for images in h5.root.dl1.event.telescope.images:
            params = h5.get_node(f"/dl1/event/telescope/parameters/{images.name}")
            selected = np.flatnonzero(params.col("hillas_intensity") >= 50)
            rows = selected if rows_per_table is None else selected[:rows_per_table]
            column = images.col("image")
            column[rows[::2]] = np.nan
            column[rows[1::2]] = np.inf
            images.modify_column(column=column, colname="image")
            n_bad += len(rows)
    return path, n_bad


def _run_copy(w: World, tmp: Path, edit: Callable[[dict, dict], None]) -> Path:
    """A copy of the run's generator, dataset.json and config.yml, edited."""
    folder = tmp / "run"
    folder.mkdir()
    shutil.copyfile(w.run / "generator.keras", folder / "generator.keras")
    import yaml

    meta = json.loads((w.run / "dataset.json").read_text())
    config = yaml.safe_load((w.run / "config.yml").read_text())
    edit(meta, config)
    (folder / "dataset.json").write_text(json.dumps(meta))
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    return folder


def _foreign_predictor(w: World, tmp: Path) -> tuple[Path, str]:
    """A copy of the predictor whose predictor.json says another configuration."""
    folder = tmp / "pred" / w.predictor.name
    shutil.copytree(w.predictor, folder)
    meta = json.loads((folder / "predictor.json").read_text())
    meta["key"] = "0123456789abcdef"
    (folder / "predictor.json").write_text(json.dumps(meta))
    return folder, w.predictor.name


@contextlib.contextmanager
def _file_size_limit(n_bytes: int):
    """Writes past ``n_bytes`` fail (EFBIG), as on a full disk; works as root."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@contextlib.contextmanager
def _read_only(folder: Path):
    """``folder`` read-only: by its mode, or where root ignores modes, os.access."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path) == folder:
            return False
        return real_access(path, mode, *args, **kwargs)

    with mock.patch("os.access", access):
        yield


# --- the table ---


@dataclass(frozen=True)
class Case:
    """One bad input.

    ``build(world, folder)`` makes the input in ``folder`` and returns the command's
    arguments and the ``{name}`` fields of ``message``; the command runs inside
    ``during(folder)``.
    """

    id: str
    command: str
    build: Callable[[World, Path], tuple[list, dict]]
    message: str
    during: Callable[[Path], contextlib.AbstractContextManager] = lambda folder: (
        contextlib.nullcontext()
    )


def _fill(text: str, fields: dict) -> str:
    for name, value in fields.items():
        text = text.replace(f"<{name}>", str(value))
    return text


def _cfg(*edits, text=None, signal=None, regular_file=False, extra=(), mkdir=()):
    """A case whose input is the world's config with ``(old, new)`` edits.

    ``<tmp>``, ``<gamma>``, ``<root>`` and ``<file>`` in an edit are the case's
    folder, the toy gamma file, the world's folder and the file ``signal(world,
    folder)`` made (then the config's signal). ``text``: the whole config instead.
    ``<tmp>/file.txt`` is a regular file; ``mkdir`` names folders to make in tmp.
    """

    def build(w: World, tmp: Path):
        fields = {"tmp": tmp, "gamma": w.gamma, "root": w.root}
        if regular_file:
            (tmp / "file.txt").write_text("a regular file\n")
        for name in mkdir:
            (tmp / name).mkdir()
        changes = [(_fill(old, fields), _fill(new, fields)) for old, new in edits]
        if signal is not None:
            fields["file"] = signal(w, tmp)
            changes.append((f"signal: [{w.gamma}]", f"signal: [{fields['file']}]"))
        if text is not None:
            path = tmp / "cfg.yml"
            path.write_text(text)
        else:
            path = w.config(tmp, *changes)
        return [path, *extra], {"cfg": path, **fields}

    return build


def _generate(*args, run=None, output_exists=False, regular_file=False, mkdir=()):
    """A ``ctgans.generate`` case on the world's run (or ``run(world, folder)``).

    ``{tmp}``, ``{run}``, ``{out}`` and ``{gamma}`` in ``args`` are filled in;
    ``{tmp}/file.txt`` is a regular file, ``{tmp}/notes.txt`` a text file;
    ``mkdir`` names folders to make in tmp.
    """

    def build(w: World, tmp: Path):
        folder = run(w, tmp) if run is not None else w.run
        if regular_file:
            (tmp / "file.txt").write_text("a regular file\n")
        for name in mkdir:
            (tmp / name).mkdir()
        (tmp / "notes.txt").write_text("not a DL1 file\n")
        output = tmp / "out.dl1.h5"
        if output_exists:
            output.write_text("a file the user wants to keep\n")
        fields = {"run": folder, "out": output, "tmp": tmp, "gamma": w.gamma}
        argv = [folder, "--output", output, "--no-progress"]
        argv += [a.format(**fields) for a in args]
        if "--output" in args:  # the case names its own output
            argv = [folder, "--no-progress"] + [a.format(**fields) for a in args]
        return argv, fields

    return build


def _notes(w: World, tmp: Path) -> Path:
    path = tmp / "notes.dl1.h5"
    path.write_text("not a DL1 file\n")
    return path


def _truncated(w: World, tmp: Path) -> Path:
    path = tmp / "truncated.dl1.h5"
    data = w.gamma.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _all_nonfinite(w: World, tmp: Path):
    argv, fields = _cfg(signal=lambda w, tmp: _nonfinite(w, tmp, None)[0])(w, tmp)
    return argv, {**fields, "n": w.n_examples}


def _other_config_run(w: World, tmp: Path):
    from ctgans.config import load_config
    from ctgans.runs.folder import config_hash

    cfg = w.config(tmp)
    (tmp / "runs" / "cfg-001").mkdir(parents=True)
    (tmp / "runs" / "cfg-001" / "run.json").write_text(
        json.dumps({"config_hash": "0123456789abcdef", "seed": 0})
    )
    return [cfg], {"cfg": cfg, "hash": config_hash(load_config(cfg))}


def _with_n_train(build):
    def with_n(w: World, tmp: Path):
        argv, fields = build(w, tmp)
        return argv, {**fields, "n": w.n_train}

    return with_n


def _run_in_use(w: World, tmp: Path):
    """A run folder of this config whose ``train.lock`` a live process holds
    (:func:`_lock_held`)."""
    from ctgans.config import load_config
    from ctgans.runs.folder import config_hash

    cfg = w.config(tmp)
    folder = tmp / "runs" / "cfg-001"
    folder.mkdir(parents=True)
    digest = config_hash(load_config(cfg))
    (folder / "run.json").write_text(json.dumps({"config_hash": digest, "seed": 0}))
    holder = {"pid": os.getpid(), "host": "node7", "started": "2026-11-25T10:00:00"}
    (folder / "train.lock").write_text(json.dumps(holder))
    return [cfg], {"cfg": cfg, **holder}


@contextlib.contextmanager
def _lock_held(tmp: Path):
    """Another process holds the flock of the run folder's train.lock."""
    script = (
        "import fcntl, sys, time\n"
        "f = open(sys.argv[1])\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    )
    lock = tmp / "runs" / "cfg-001" / "train.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.kill()
        holder.wait()


def _other_predictor(w: World, tmp: Path):
    folder, key = _foreign_predictor(w, tmp)
    cfg = w.config(tmp, (f"directory: {w.root / 'pred'}", f"directory: {tmp / 'pred'}"))
    return [cfg], {"cfg": cfg, "pred": folder, "key": key}


def _image_shape(meta: dict, config: dict) -> None:
    meta["image_shape"] = [20, 20, 1]


def _mapper_shape(meta: dict, config: dict) -> None:
    config["data"]["image_shape"] = 20


def _not_utf8(w: World, tmp: Path):
    path = tmp / "cfg.yml"
    path.write_bytes(b"data:\n  signal: [caf\xe9.dl1.h5]\n")  # Latin-1 'é'
    return [path], {"cfg": path}


def _folder(w: World, tmp: Path) -> Path:
    path = tmp / "dl1"
    path.mkdir()
    return path


def _simulate_existing(w: World, tmp: Path):
    output = tmp / "gamma.dl1.h5"
    output.write_text("a file the user wants to keep\n")
    return ["--particle", "gamma", "--output", output], {"out": output}


DATA_KEYS = (
    "signal, background, toy_dataset, telescopes, mode, channels, mapper, cuts, "
    "labels, validation_fraction, image_scale_pe, time_std, focal_length_choice, "
    "cache_dir, in_memory"
)
VERSIONS = "v6.0.0, v7.0.0, v7.1.0, v7.2.0, v7.3.0, v7.4.0, v7.5.0, v7.6.0"
TEL = "LST_MAGIC_MAGICCam"
IMAGES = "/dl1/event/telescope/images/tel_001"
WRITABLE = "must be a folder that can be created and written"

BAD = [
    # --- the config file ---
    Case(
        "config_missing",
        "train",
        lambda w, tmp: ([tmp / "nope.yml"], {"cfg": tmp / "nope.yml"}),
        "config file {cfg} does not exist",
    ),
    Case(
        "yaml_syntax",
        "train",
        _cfg(text="data:\n  signal: [a.h5\n  mode: mono\n"),
        "{cfg}: YAML syntax error at line 3, column 7: "
        "expected ',' or ']', but got ':'",
    ),
    Case(
        "missing_section",
        "train",
        _cfg(text="seed: 1\n"),
        "missing key `data` ({cfg})",
    ),
    Case(
        "config_not_utf8",
        "train",
        _not_utf8,
        "{cfg}: not UTF-8 text (byte 0xe9 at line 2, column 15); expected a YAML "
        "config file in UTF-8",
    ),
    Case(
        "unknown_key",
        "train",
        _cfg(("  mode: mono", "  colour: red\n  mode: mono")),
        "unknown key `data.colour` ({cfg}); allowed keys: " + DATA_KEYS,
    ),
    Case(
        "wrong_type",
        "train",
        _cfg(("validation_fraction: 0.2", "validation_fraction: abc")),
        "`data.validation_fraction` must be a number; received 'abc' (string) ({cfg})",
    ),
    Case(
        "out_of_range",
        "train",
        _cfg(("  batch_size: 16", "  batch_size: 0")),
        "`train.batch_size` must be an integer in [1, inf]; received 0 ({cfg})",
    ),
    Case(
        "not_a_choice",
        "train",
        _cfg(("mode: mono", "mode: triple")),
        "`data.mode` must be one of mono, stereo; received 'triple' (string) ({cfg})",
    ),
    Case(
        "in_memory_not_a_choice",
        "train",
        _cfg(("mode: mono", "mode: mono\n  in_memory: sometimes")),
        "`data.in_memory` must be auto, true or false; received 'sometimes' "
        "(string) ({cfg})",
    ),
    Case(
        "type_label_without_background",
        "train",
        _cfg(("labels: [energy, cameradirection]", "labels: [type, energy]")),
        "`data.labels` must be a non-empty `data.background` when `type` is a "
        "label; received no background files ({cfg})",
    ),
    Case(
        "missing_file",
        "train",
        _cfg(signal=lambda w, tmp: tmp / "missing.dl1.h5"),
        "`data.signal` must be an existing file; received '{file}' does not exist "
        "({cfg})",
    ),
    Case(
        "signal_is_a_folder",
        "train",
        _cfg(signal=_folder),
        "`data.signal` must be a DL1 file, not a folder (the files in it: a glob "
        "such as '{file}/*.dl1.h5'); received '{file}' is a folder ({cfg})",
    ),
    Case(
        "no_telescope_types",
        "train",
        _cfg(("types: [LST_MAGIC_MAGICCam]", "types: []")),
        "`data.telescopes.types` must be at least one ctapipe telescope type, e.g. "
        "LST_MAGIC_MAGICCam; received an empty list ({cfg})",
    ),
    Case(
        "empty_glob",
        "train",
        _cfg(signal=lambda w, tmp: tmp / "*.dl1.h5"),
        "`data.signal` must be a glob matching files; received '{file}' matches "
        "none ({cfg})",
    ),
    Case(
        "unknown_option",
        "train",
        _cfg(extra=["--bogus"]),
        "unrecognized arguments: --bogus",
    ),
    # --- model settings the networks refuse (checked when the config is loaded) ---
    Case(
        "critic_filters_empty",
        "train",
        _cfg(("filters: [16, 32]", "filters: []")),
        "`model.critic.filters` must be a non-empty list of integers >= 1 (one per "
        "stride-2 convolution); received an empty list ({cfg})",
    ),
    Case(
        "predictor_architecture_empty",
        "train",
        _cfg(("architecture: [{filters: 16, blocks: 1}]", "architecture: []")),
        "`model.predictor.architecture` must be at least one ResNet stage "
        "{{filters, blocks}}; received an empty list ({cfg})",
    ),
    Case(
        "predictor_attention_needs_16_filters",
        "train",
        _cfg(
            (
                "architecture: [{filters: 16, blocks: 1}]",
                "architecture: [{filters: 8, blocks: 1}]",
            ),
            ("attention_mechanism: none", "attention_mechanism: Channel-SE"),
        ),
        "`model.predictor.architecture` must have at least 16 filters in every "
        "stage with attention_mechanism Channel-SE (CTLearn divides the filters by "
        "16; or attention_mechanism Spatial-SE or none); received filters [8] "
        "({cfg})",
    ),
    Case(
        "source_frame_latent_dim_1",
        "train",
        _cfg(
            ("latent_dim: 16", "latent_dim: 1"),
            (
                "normalization: batch}",
                "normalization: batch, camera_noise: true, source_frame: true}",
            ),
        ),
        "`model.latent_dim` must be at least 2 with model.generator.source_frame "
        "(the rotation angle is drawn from two noise components); received 1 ({cfg})",
    ),
    Case(
        "shower_intensity_latent_dim_3",
        "train",
        _cfg(
            ("latent_dim: 16", "latent_dim: 3"),
            (
                "normalization: batch}",
                "normalization: batch, camera_noise: true, shower_intensity: fitted}",
            ),
        ),
        "`model.latent_dim` must be at least 4 with model.generator.shower_intensity: "
        "fitted (z[:, 3] draws the light); received 3 ({cfg})",
    ),
    Case(
        "envelope_length_spread_latent_dim_4",
        "train",
        _cfg(
            ("latent_dim: 16", "latent_dim: 4"),
            (
                "normalization: batch}",
                "normalization: batch, camera_noise: true, source_frame: true, "
                "shower_envelope: true, envelope_length: fitted, "
                "envelope_length_spread: true}",
            ),
        ),
        "`model.latent_dim` must be at least 5 with "
        "model.generator.envelope_length_spread: true (z[:, 4] draws the length); "
        "received 4 ({cfg})",
    ),
    # --- settings checked against the data (before its cache is written) ---
    Case(
        "shower_intensity_fit_without_enough_images",
        "train",
        _cfg(
            (
                "normalization: batch}",
                "normalization: batch, camera_noise: true, shower_intensity: fitted}",
            )
        ),
        "model.generator.shower_intensity fitted: {*} training images with a pixel "
        "above {*} p.e.; expected >= 1000000",
        during=lambda tmp: mock.patch("ctgans.train.envelope_fit.MIN_IMAGES", 10**6),
    ),
    Case(
        "mapper_view_on_another_grid",
        "train",
        _cfg(
            (
                "spectral_norm: false}",
                "spectral_norm: false, mapper_views: [NearestNeighborMapper]}",
            )
        ),
        "model.critic.mapper_views: NearestNeighborMapper maps camera MAGICCam to "
        "18x18; expected the data mapper's 16x16",
        during=lambda tmp: mock.patch(
            "ctgans.train.camera_model.build_mapper", _view_on_another_grid
        ),
    ),
    Case(
        "batch_larger_than_training_split",
        "train",
        _with_n_train(
            _cfg(
                ("  batch_size: 16", "  batch_size: 4096"),
                ("cache_dir: <root>/cache", "cache_dir: <tmp>/cache"),
            )
        ),
        "`train.batch_size` x `loss.critic_steps` (the examples of one generator "
        "step) must be at most the {n} training examples; received 4096 x 2 = 8192 "
        "({cfg})",
    ),
    Case(
        "predictor_batch_larger_than_training_split",
        "train",
        _with_n_train(_cfg(("    batch_size: 32", "    batch_size: 100000"))),
        "`model.predictor.batch_size` must be at most the {n} training telescope "
        "images; received 100000 ({cfg})",
    ),
    # --- folders that cannot be written (checked when the config is loaded) ---
    Case(
        "run_dir_not_a_folder",
        "train",
        _cfg(("run_dir: runs", "run_dir: <tmp>/file.txt/runs"), regular_file=True),
        "`train.run_dir` " + WRITABLE + "; received '{tmp}/file.txt/runs': "
        "{tmp}/file.txt is not a folder ({cfg})",
    ),
    Case(
        "cache_dir_not_a_folder",
        "data",
        _cfg(
            ("cache_dir: <root>/cache", "cache_dir: <tmp>/file.txt"), regular_file=True
        ),
        "`data.cache_dir` " + WRITABLE + "; received '{tmp}/file.txt': "
        "{tmp}/file.txt is not a folder ({cfg})",
    ),
    Case(
        "cache_dir_read_only",
        "data",
        _cfg(
            ("cache_dir: <root>/cache", "cache_dir: <tmp>/readonly/cache"),
            mkdir=["readonly"],
        ),
        "`data.cache_dir` " + WRITABLE + "; received '{tmp}/readonly/cache': "
        "{tmp}/readonly is not writable ({cfg})",
        during=lambda tmp: _read_only(tmp / "readonly"),
    ),
    # --- DL1 files (checked before any event is read) ---
    Case(
        "not_hdf5",
        "data",
        _cfg(signal=_notes),
        "{file}: not an HDF5 file; expected a ctapipe DL1 file",
    ),
    Case(
        "truncated_hdf5",
        "data",
        _cfg(signal=_truncated),
        "{file}: unreadable HDF5 (truncated or corrupt?): truncated file: eof = "
        + WILDCARD,
    ),
    Case(
        "data_model_too_old",
        "data",
        _cfg(signal=lambda w, tmp: _with_attribute(w, tmp, "v5.0.0")),
        "{file}: ctapipe data model v5.0.0; expected one of " + VERSIONS + " "
        "(ctapipe " + WILDCARD + ")",
    ),
    Case(
        "data_model_too_new",
        "data",
        _cfg(signal=lambda w, tmp: _with_attribute(w, tmp, "v9.0.0")),
        "{file}: ctapipe data model v9.0.0; expected one of " + VERSIONS + " "
        "(ctapipe " + WILDCARD + ")",
    ),
    Case(
        "no_simulation_truth",
        "data",
        _cfg(
            signal=lambda w, tmp: _without_node(
                w, tmp, "/simulation/event/subarray/shower"
            )
        ),
        "{file}: no /simulation/event/subarray/shower table; expected simulated "
        "events with truth",
    ),
    Case(
        "telescope_type_absent",
        "data",
        _cfg((f"types: [{TEL}]", "types: [LST_LST_LSTCam]")),
        "{gamma}: telescope type LST_LST_LSTCam not in the file; available: "
        f"{TEL} (data.telescopes.types)",
    ),
    Case(
        "telescope_id_absent",
        "data",
        _cfg(("ids: null", "ids: [3]")),
        f"{{gamma}}: telescope id 3 is not a telescope of type {TEL} in the file; "
        "available ids: [1, 2] (data.telescopes.ids)",
    ),
    Case(
        "channel_absent",
        "data",
        _cfg(
            ("channels: [image]", "channels: [image, peak_time]"),
            signal=lambda w, tmp: _without_column(w, tmp, "peak_time"),
        ),
        f"{{file}}: channel peak_time needs column 'peak_time' in {IMAGES}; the "
        "table has " + WILDCARD + " (data.channels)",
    ),
    Case(
        "cut_column_absent",
        "data",
        _cfg(("hillas_intensity: {min: 50}", "hillas_bogus: {min: 50}")),
        "{gamma}: cut column 'hillas_bogus' not in "
        "/dl1/event/telescope/parameters/tel_001 (data.cuts.hillas_bogus); e.g. "
        "hillas_intensity, leakage_intensity_width_2",
    ),
    Case(
        "selection_empty",
        "data",
        _cfg(("hillas_intensity: {min: 50}", "hillas_intensity: {min: 1000000000000}")),
        f"{{gamma}}: no events pass the selection (telescopes {TEL}, cuts: "
        "(hillas_intensity >= 1000000000000.0)); expected at least one",
    ),
    Case(
        "all_pixels_nonfinite",
        "data",
        _all_nonfinite,
        "all {n} selected examples of {file} have NaN or inf pixels; expected "
        "finite images",
    ),
    # --- training: run folders and cached predictors ---
    Case(
        "resume_run_of_other_config",
        "train",
        _other_config_run,
        "run folder runs/cfg-001 was made with another config (hash "
        "0123456789abcdef, this config {hash}); pass --fresh to start a new run",
    ),
    Case(
        "predictor_of_other_config",
        "train",
        _other_predictor,
        "{pred}/predictor.json: made for key 0123456789abcdef, tasks ['energy', "
        "'cameradirection'], image shape [16, 16, 1]; expected key {key}, tasks "
        "['energy', 'cameradirection'], image shape [16, 16, 1] (delete the folder "
        "to retrain)",
    ),
    Case(
        "run_folder_in_use",
        "train",
        _run_in_use,
        "run folder runs/cfg-001 is being trained by process {pid} on host {host}, "
        "started {started} (lock runs/cfg-001/train.lock); wait for it to end, or "
        "pass --fresh to start a new run folder",
        during=_lock_held,
    ),
    # --- generation ---
    Case(
        "generate_zero_events",
        "generate",
        _generate("--n-events", "0"),
        "--n-events must be a positive integer; received 0",
    ),
    Case(
        "generate_negative_events",
        "generate",
        _generate("--n-events", "-5"),
        "--n-events must be a positive integer; received -5",
    ),
    Case(
        "generate_radius_out_of_range",
        "generate",
        _generate("--n-events", "3", "--radius-deg", "50"),
        "--radius-deg must be in [0, 45); received 50.0",
    ),
    Case(
        "generate_run_missing",
        "generate",
        _generate("--n-events", "3", run=lambda w, tmp: tmp / "runs" / "nope-001"),
        "run folder {run} does not exist; expected a folder written by python -m "
        "ctgans.train",
    ),
    Case(
        "generate_run_unfinished",
        "generate",
        _generate("--n-events", "3", run=lambda w, tmp: tmp),
        "run folder {run}: no generator.keras; expected a finished training run",
    ),
    Case(
        "generate_output_exists",
        "generate",
        _generate("--n-events", "3", output_exists=True),
        "output file: expected a path that does not exist (or --overwrite), "
        "received existing {out}",
    ),
    Case(
        "generate_output_folder_not_a_folder",
        "generate",
        _generate(
            "--n-events", "3", "--output", "{tmp}/file.txt/out.h5", regular_file=True
        ),
        "output folder: expected an existing directory, received {tmp}/file.txt",
    ),
    Case(
        "generate_output_folder_read_only",
        "generate",
        _generate(
            "--n-events", "3", "--output", "{tmp}/readonly/out.h5", mkdir=["readonly"]
        ),
        "output folder: expected a writable directory, received {tmp}/readonly",
        during=lambda tmp: _read_only(tmp / "readonly"),
    ),
    Case(
        "generate_disk_full",
        "generate",
        _generate("--n-events", "3"),
        "{out}: writing failed (" + WILDCARD + "); disk full or folder not "
        "writable? Nothing was written",
        during=lambda tmp: _file_size_limit(64 * 1024),
    ),
    Case(
        "generate_labels_from_not_hdf5",
        "generate",
        _generate("--labels-from", "{tmp}/notes.txt"),
        "{tmp}/notes.txt: not an HDF5 file; expected a ctapipe DL1 file",
    ),
    Case(
        "generate_labels_from_and_sampling",
        "generate",
        _generate("--labels-from", "{gamma}", "--energy-min", "1"),
        "--labels-from copies the labels; received sampling options too: --energy-min",
    ),
    Case(
        "generate_generator_shape_differs",
        "generate",
        _generate(
            "--n-events", "3", run=lambda w, tmp: _run_copy(w, tmp, _image_shape)
        ),
        "{run}/generator.keras: generator makes images of shape (16, 16, 1); "
        "dataset.json says (20, 20, 1)",
    ),
    Case(
        "generate_mapper_shape_differs",
        "generate",
        _generate(
            "--n-events", "3", run=lambda w, tmp: _run_copy(w, tmp, _mapper_shape)
        ),
        "{run}: the BilinearMapper makes 20x20 images; the generator 16x16",
    ),
    # --- the toy simulator ---
    Case(
        "simulate_output_exists",
        "simulate",
        _simulate_existing,
        "--output: expected a new file (or --overwrite), received existing {out}",
    ),
]


def _main(command: str):
    module = {
        "train": "ctgans.train.__main__",
        "data": "ctgans.data.__main__",
        "generate": "ctgans.generate.__main__",
        "simulate": "ctgans.simulate.__main__",
    }[command]
    return __import__(module, fromlist=["main"]).main


def _pattern(case: Case, fields: dict) -> re.Pattern:
    """The expected stderr: the message with its fields, ``{*}`` any one-line text."""
    parts = [re.escape(p.format(**fields)) for p in case.message.split(WILDCARD)]
    return re.compile("error: " + "[^\n]*".join(parts) + "\n")


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under ``roots``: size, mtime and hash of files."""
    state = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                state[str(path)] = ("folder",)
                continue
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path)] = (stat.st_size, stat.st_mtime_ns, digest)
    return state


def _make(case: Case, world: World, tmp: Path) -> tuple[list[str], dict]:
    argv, fields = case.build(world, tmp)
    return [str(a) for a in argv], fields


def test_snapshot_sees_new_rewritten_and_removed_files(tmp_path):
    (tmp_path / "kept.txt").write_text("same")
    before = snapshot(tmp_path)
    assert snapshot(tmp_path) == before
    (tmp_path / "kept.txt").write_text("same")  # same bytes, new mtime
    os.utime(tmp_path / "kept.txt", ns=(1, 1))
    assert snapshot(tmp_path) != before
    before = snapshot(tmp_path)
    (tmp_path / "new").mkdir()
    assert snapshot(tmp_path) != before
    (tmp_path / "new").rmdir()
    (tmp_path / "kept.txt").unlink()
    assert snapshot(tmp_path) != before


def test_the_table_has_every_case_once():
    ids = [case.id for case in BAD]
    assert len(ids) == len(set(ids)) >= 25


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_bad_input_is_one_error_line_exit_2_and_writes_nothing(
    case, world, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # relative outputs would land in the snapshot
    argv, fields = _make(case, world, tmp_path)
    roots = (tmp_path, world.root, world.gamma.parent)
    before = snapshot(*roots)
    with case.during(tmp_path):
        status = _main(case.command)(argv)
    out, err = capsys.readouterr()
    assert status == 2, err
    assert out == ""
    assert _pattern(case, fields).fullmatch(err), err
    assert snapshot(*roots) == before


def _subprocess_case(case_id: str, world: World, tmp: Path):
    case = next(c for c in BAD if c.id == case_id)
    argv, fields = _make(case, world, tmp)
    before = snapshot(tmp, world.root)
    done = subprocess.run(
        [sys.executable, "-m", f"ctgans.{case.command}", *argv],
        capture_output=True,
        text=True,
        cwd=tmp,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert snapshot(tmp, world.root) == before
    return case, fields, done


def test_python_m_ctgans_train_bad_config_prints_only_the_error(world, tmp_path):
    case, fields, done = _subprocess_case("unknown_key", world, tmp_path)
    assert done.stdout == ""
    assert _pattern(case, fields).fullmatch(done.stderr), done.stderr


def test_python_m_ctgans_train_refusal_after_tensorflow_loads(world, tmp_path):
    case, fields, done = _subprocess_case("resume_run_of_other_config", world, tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1
    assert _pattern(case, fields).fullmatch(errors[0] + "\n"), done.stderr


# --- accepted inputs: not refused, said in the log ---


def test_nonfinite_pixels_are_skipped_and_counted(world, tmp_path, caplog, capsys):
    path, n_bad = _nonfinite(world, tmp_path, 2)
    cfg = world.config(
        tmp_path,
        (f"signal: [{world.gamma}]", f"signal: [{path}]"),
        (f"cache_dir: {world.root / 'cache'}", f"cache_dir: {tmp_path / 'cache'}"),
    )
    with caplog.at_level(logging.WARNING, logger="ctgans"):
        assert _main("data")([str(cfg)]) == 0
    assert n_bad == 4  # two selected images per telescope
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = f"skipped {n_bad} of {world.n_examples} examples with NaN or inf pixels"
    assert warnings == [expected]
    out = capsys.readouterr().out
    assert f": {world.n_examples - n_bad} examples (" in out


def test_labels_outside_the_training_range_are_generated_with_a_warning(
    world, tmp_path, caplog, capsys
):
    output = tmp_path / "far.dl1.h5"
    argv = [world.run, "--output", output, "--n-events", "4", "--no-progress"]
    argv += ["--energy-min", "1000", "--energy-max", "2000"]
    with caplog.at_level(logging.WARNING, logger="ctgans"):
        assert _main("generate")([str(a) for a in argv]) == 0
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "ctgans.generate.labels"
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "4 of 4 requested log_true_energy values lie outside the training range"
    )
    out = capsys.readouterr().out
    assert out.startswith(f"{output}: 4 events in ")
    assert out.endswith("; outside the training range: log_true_energy\n")
    assert output.is_file()
