"""YAML configuration -> frozen, typed dataclasses, validated once.

Every check on user input lives here or in :mod:`ctgans.config_schema`; code below
takes these objects (or plain arguments), never the raw dict. A bad value raises
:class:`~ctgans.exceptions.ConfigError` whose one-line message names the key path, the
file, what was expected and what was received.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ctgans.choices import (
    CONDITIONING,
    LABEL_LOSSES,
    LABEL_SOURCES,
    NORMALIZATION,
    PAIRED_LABEL_LOSSES,
    PRECISIONS,
    RESIDUAL_BLOCKS,
    UPSAMPLING,
)
from ctgans.config_schema import Section
from ctgans.exceptions import ConfigError

LABELS = ("type", "energy", "cameradirection", "skydirection")
CHANNELS = ("image", "peak_time", "cleaned_image", "relative_peak_time")
MAPPERS = (
    "BilinearMapper",
    "BicubicMapper",
    "NearestNeighborMapper",
    "OversamplingMapper",
    "AxialMapper",
    "ShiftingMapper",
    "SquareMapper",
)
#: The embedded toy dataset: file per particle, showers thrown per particle.
TOY_FILES = {"gamma": "gamma_diffuse.dl1.h5", "proton": "proton_diffuse.dl1.h5"}
EMBEDDED_EVENTS = 40000
#: CTLearn's squeeze-and-excitation attentions that divide the filters by its
#: ``attention_reduction_ratio`` (default 16): every stage needs that many.
SE_ATTENTION = ("Dual-SE", "Channel-SE")
SE_REDUCTION = 16


@dataclass(frozen=True)
class ToyDatasetConfig:
    """The embedded toy dataset: simulated on demand when its files are missing."""

    directory: Path
    n_events_per_particle: int = EMBEDDED_EVENTS
    seed: int = 0


@dataclass(frozen=True)
class CutConfig:
    """A quality cut on one DL1 parameter column: ``min <= column <= max``."""

    column: str
    min: float | None = None
    max: float | None = None

    def expression(self) -> str:
        """The cut as a ctapipe ``QualityQuery`` expression."""
        parts = []
        if self.min is not None:
            parts.append(f"({self.column} >= {self.min!r})")
        if self.max is not None:
            parts.append(f"({self.column} <= {self.max!r})")
        return " & ".join(parts)


@dataclass(frozen=True)
class DataConfig:
    """What to read from which DL1 files, and how to turn it into tensors."""

    signal: tuple[Path, ...]
    background: tuple[Path, ...] = ()
    toy_dataset: ToyDatasetConfig | None = None
    tel_types: tuple[str, ...] = ("LST_MAGIC_MAGICCam",)
    tel_ids: tuple[int, ...] | None = None
    mode: str = "mono"
    channels: tuple[str, ...] = ("image",)
    mapper: str = "BilinearMapper"
    image_shape: int | None = None
    cuts: tuple[CutConfig, ...] = ()
    labels: tuple[str, ...] = ("energy", "cameradirection")
    validation_fraction: float = 0.1
    image_scale_pe: float = 1.0
    time_std: float = 1.0
    focal_length_choice: str = "EFFECTIVE"
    cache_dir: Path = Path("cache")
    in_memory: str = "auto"  # how training is fed, see ctgans.data.feeding

    @property
    def label_columns(self) -> tuple[str, ...]:
        """The dl1-data-handler columns that hold the configured labels."""
        return tuple(col for label in self.labels for col in LABEL_COLUMNS[label])

    def fingerprint(self) -> str:
        """A hash of every setting that changes the cached arrays."""
        state = asdict(self)
        state.pop("cache_dir")
        state.pop("toy_dataset")
        state.pop("in_memory")  # how the cache is fed, not what it holds
        if state["time_std"] == 1.0:  # the default keeps earlier cache keys valid
            state.pop("time_std")
        text = json.dumps(state, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


LABEL_COLUMNS = {
    "type": ("true_shower_primary_class",),
    "energy": ("log_true_energy",),
    "cameradirection": ("cam_coord_offset_x", "cam_coord_offset_y"),
    "skydirection": ("fov_lon", "fov_lat"),
}


@dataclass(frozen=True)
class GeneratorConfig:
    """Generator architecture."""

    base_filters: int = 128
    upsampling: str = "transpose"
    normalization: str = "batch"
    camera_noise: bool = False
    source_frame: bool = False
    label_film: bool = False
    canvas_scale: int = 1


@dataclass(frozen=True)
class CriticConfig:
    """Critic architecture."""

    filters: tuple[int, ...] = (64, 128, 256)
    conditioning: str = "projection"
    spectral_norm: bool = False
    image_moments: bool = False
    minibatch_std: bool = False
    source_coordinates: bool = False


@dataclass(frozen=True)
class PredictorConfig:
    """The CTLearn ResNet used as auxiliary label predictor."""

    architecture: tuple[tuple[int, int], ...] = ((16, 2), (32, 2), (64, 2))
    residual_block_type: str = "basic"
    attention_mechanism: str | None = "Dual-SE"
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    directory: Path = Path("predictors")


@dataclass(frozen=True)
class ModelConfig:
    """Network settings."""

    latent_dim: int = 128
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    precision: str = "float32"


@dataclass(frozen=True)
class LossConfig:
    """WGAN-GP and auxiliary label loss weights."""

    label_weights: tuple[tuple[str, float], ...] = ()
    label_warmup_epochs: float = 0.0
    gradient_penalty: float = 10.0
    critic_steps: int = 5
    label_loss: str = "absolute"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and run-folder settings."""

    batch_size: int = 64
    epochs: int = 20
    generator_learning_rate: float = 1e-4
    critic_learning_rate: float = 1e-4
    beta_1: float = 0.0
    beta_2: float = 0.9
    strategy: str = "mirrored"
    label_source: str = "real"
    generator_ema: float = 0.0
    checkpoint_every: int = 1
    sample_every: int = 1
    run_dir: Path = Path("runs")


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration."""

    source: Path
    data: DataConfig
    model: ModelConfig
    loss: LossConfig
    train: TrainConfig
    seed: int


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
    data = _data(root.section("data", required=True), check_files)
    cfg = Config(
        source=path,
        data=data,
        model=_model(root.section("model")),
        loss=_loss(root.section("loss"), data.labels),
        train=_train(root.section("train")),
        seed=root.integer("seed", 0, minimum=0),
    )
    _check_camera_model(cfg)
    _check_model(cfg)
    if check_files:
        _check_output_folders(cfg)
    return cfg


def _check_camera_model(cfg: Config) -> None:
    """The camera-aware generator's needs: mono, one charge channel, directions."""
    g = cfg.model.generator
    where = f"({cfg.source})"
    if g.camera_noise and (cfg.data.mode != "mono" or cfg.data.channels != ("image",)):
        raise ConfigError(
            "model.generator.camera_noise: needs data.mode mono and data.channels "
            f"[image]; received mode {cfg.data.mode}, channels "
            f"{list(cfg.data.channels)} {where}"
        )
    if g.canvas_scale != 1 and not g.source_frame:
        raise ConfigError(
            "model.generator.canvas_scale: 2 needs model.generator.source_frame: "
            f"true; received source_frame false {where}"
        )
    if g.source_frame and not g.camera_noise:
        raise ConfigError(
            "model.generator.source_frame: needs model.generator.camera_noise: true; "
            f"received camera_noise false {where}"
        )
    for key, on in (
        ("model.generator.source_frame", g.source_frame),
        ("model.critic.image_moments", cfg.model.critic.image_moments),
        ("model.critic.source_coordinates", cfg.model.critic.source_coordinates),
    ):
        if on and "cameradirection" not in cfg.data.labels:
            raise ConfigError(
                f"{key}: needs the cameradirection label in data.labels; received "
                f"{list(cfg.data.labels)} {where}"
            )
    if cfg.loss.label_loss in PAIRED_LABEL_LOSSES and (
        cfg.data.mode != "mono" or cfg.train.label_source != "real"
    ):
        raise ConfigError(
            f"loss.label_loss: {cfg.loss.label_loss} compares the generated images "
            "with the real images of the same labels, so it needs data.mode mono and "
            f"train.label_source real; received mode {cfg.data.mode}, label_source "
            f"{cfg.train.label_source} {where}"
        )
    for key, on in (
        ("model.critic.image_moments", cfg.model.critic.image_moments),
        ("model.critic.source_coordinates", cfg.model.critic.source_coordinates),
    ):
        if on and (cfg.data.mode != "mono" or cfg.data.channels[0] != "image"):
            raise ConfigError(
                f"{key}: needs data.mode mono with the image channel first; "
                f"received mode {cfg.data.mode}, channels "
                f"{list(cfg.data.channels)} {where}"
            )


def _check_output_folders(cfg: Config) -> None:
    """Refuse output folders that cannot be made or written, before any work."""
    folders = {
        "data.cache_dir": cfg.data.cache_dir,
        "model.predictor.directory": cfg.model.predictor.directory,
        "train.run_dir": cfg.train.run_dir,
    }
    if cfg.data.toy_dataset is not None:
        folders["data.toy_dataset.directory"] = cfg.data.toy_dataset.directory
    for key, folder in folders.items():
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            problem = f"{existing} is not a folder"
        elif not os.access(existing, os.W_OK | os.X_OK):
            problem = f"{existing} is not writable"
        else:
            continue
        raise ConfigError(
            f"`{key}` must be a folder that can be created and written; received "
            f"'{folder}': {problem} ({cfg.source})"
        )


def _data(sec: Section, check_files: bool) -> DataConfig:
    sec.allow(
        "signal",
        "background",
        "toy_dataset",
        "telescopes",
        "mode",
        "channels",
        "mapper",
        "cuts",
        "labels",
        "validation_fraction",
        "image_scale_pe",
        "time_std",
        "focal_length_choice",
        "cache_dir",
        "in_memory",
    )
    toy = None
    if "toy_dataset" in sec:
        tsec = sec.section("toy_dataset")
        tsec.allow("directory", "n_events_per_particle", "seed")
        toy = ToyDatasetConfig(
            directory=Path(tsec.string("directory", required=True)),
            n_events_per_particle=tsec.integer(
                "n_events_per_particle", EMBEDDED_EVENTS, 1
            ),
            seed=tsec.integer("seed", 0, minimum=0),
        )
    signal = _files(sec, "signal", toy, check_files, required=True)
    background = _files(sec, "background", toy, check_files, required=False)

    tsec = sec.section("telescopes")
    tsec.allow("types", "ids")
    tel_types = tuple(tsec.string_list("types", ["LST_MAGIC_MAGICCam"]))
    if not tel_types:
        raise ConfigError(
            tsec.message(
                "at least one ctapipe telescope type, e.g. LST_MAGIC_MAGICCam",
                "an empty list",
                "types",
            )
        )
    ids = tsec.integer_list("ids", None, minimum=1)

    msec = sec.section("mapper")
    msec.allow("type", "image_shape")
    mapper = msec.choice("type", MAPPERS, "BilinearMapper")
    image_shape = msec.integer("image_shape", None, minimum=4)

    csec = sec.section("cuts")
    cuts = []
    for column in csec.keys():
        one = csec.section(column)
        one.allow("min", "max")
        cut = CutConfig(column, one.number("min", None), one.number("max", None))
        if cut.min is None and cut.max is None:
            raise ConfigError(one.message("a mapping with `min` and/or `max`", "{}"))
        if cut.min is not None and cut.max is not None and cut.min > cut.max:
            raise ConfigError(
                one.message("`min` <= `max`", f"min={cut.min}, max={cut.max}")
            )
        cuts.append(cut)

    labels = tuple(sec.choice_list("labels", LABELS, ["energy", "cameradirection"]))
    if "type" in labels and not background:
        raise ConfigError(
            sec.message(
                "a non-empty `data.background` when `type` is a label",
                "no background files",
                key="labels",
            )
        )
    return DataConfig(
        signal=signal,
        background=background,
        toy_dataset=toy,
        tel_types=tel_types,
        tel_ids=tuple(ids) if ids is not None else None,
        mode=sec.choice("mode", ("mono", "stereo"), "mono"),
        channels=tuple(sec.choice_list("channels", CHANNELS, ["image"])),
        mapper=mapper,
        image_shape=image_shape,
        cuts=tuple(cuts),
        labels=labels,
        validation_fraction=sec.number("validation_fraction", 0.1, 0.0, 0.9),
        image_scale_pe=sec.number("image_scale_pe", 1.0, 1e-6, None),
        time_std=sec.number("time_std", 1.0, 1e-3, 10.0),
        focal_length_choice=sec.choice(
            "focal_length_choice", ("EFFECTIVE", "EQUIVALENT"), "EFFECTIVE"
        ),
        cache_dir=Path(sec.string("cache_dir", "cache")),
        in_memory=sec.auto_or_boolean("in_memory"),
    )


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


def _files(sec, key, toy, check_files, required) -> tuple[Path, ...]:
    patterns = sec.string_list(key, None if required else [], required=required)
    if required and not patterns:
        raise ConfigError(sec.message("at least one file", "an empty list", key=key))
    files: list[Path] = []
    for pattern in patterns:
        toy_file = toy is not None and Path(pattern).parent == toy.directory
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches and check_files and not toy_file:
                raise ConfigError(
                    sec.message(
                        "a glob matching files", f"{pattern!r} matches none", key
                    )
                )
            files.extend(Path(m) for m in matches)
            continue
        if toy_file and Path(pattern).name not in TOY_FILES.values():
            raise ConfigError(
                sec.message(
                    f"a toy dataset file, one of {sorted(TOY_FILES.values())}",
                    repr(pattern),
                    key,
                )
            )
        if check_files and not toy_file and Path(pattern).is_dir():
            raise ConfigError(
                sec.message(
                    "a DL1 file, not a folder (the files in it: a glob such as "
                    f"'{Path(pattern) / '*.dl1.h5'}')",
                    f"{pattern!r} is a folder",
                    key,
                )
            )
        if check_files and not toy_file and not Path(pattern).is_file():
            raise ConfigError(
                sec.message("an existing file", f"{pattern!r} does not exist", key)
            )
        files.append(Path(pattern))
    return tuple(files)


def _model(sec: Section) -> ModelConfig:
    sec.allow("latent_dim", "generator", "critic", "predictor", "precision")
    gsec = sec.section("generator")
    gsec.allow(
        "base_filters",
        "upsampling",
        "normalization",
        "camera_noise",
        "source_frame",
        "label_film",
        "canvas_scale",
    )
    csec = sec.section("critic")
    csec.allow(
        "filters",
        "conditioning",
        "spectral_norm",
        "image_moments",
        "minibatch_std",
        "source_coordinates",
    )
    psec = sec.section("predictor")
    psec.allow(
        "architecture",
        "residual_block_type",
        "attention_mechanism",
        "epochs",
        "batch_size",
        "learning_rate",
        "directory",
    )
    stages = []
    architecture = psec.list("architecture", [])
    if "architecture" in psec and not architecture:
        raise ConfigError(
            psec.message(
                "at least one ResNet stage {filters, blocks}",
                "an empty list",
                "architecture",
            )
        )
    for i, stage in enumerate(architecture):
        ssec = Section(stage, f"{psec.path}.architecture[{i}]", sec.source)
        ssec.allow("filters", "blocks")
        stages.append(
            (
                ssec.integer("filters", required=True, minimum=1),
                ssec.integer("blocks", required=True, minimum=1),
            )
        )
    default_p = PredictorConfig()
    return ModelConfig(
        latent_dim=sec.integer("latent_dim", 128, minimum=1),
        precision=sec.choice("precision", PRECISIONS, "float32"),
        generator=GeneratorConfig(
            base_filters=gsec.integer("base_filters", 128, minimum=1),
            upsampling=gsec.choice("upsampling", UPSAMPLING, "transpose"),
            normalization=gsec.choice("normalization", NORMALIZATION, "batch"),
            camera_noise=gsec.boolean("camera_noise", False),
            source_frame=gsec.boolean("source_frame", False),
            label_film=gsec.boolean("label_film", False),
            canvas_scale=gsec.integer("canvas_scale", 1, minimum=1, maximum=2),
        ),
        critic=CriticConfig(
            filters=tuple(_critic_filters(csec)),
            conditioning=csec.choice("conditioning", CONDITIONING, "projection"),
            spectral_norm=csec.boolean("spectral_norm", False),
            image_moments=csec.boolean("image_moments", False),
            minibatch_std=csec.boolean("minibatch_std", False),
            source_coordinates=csec.boolean("source_coordinates", False),
        ),
        predictor=PredictorConfig(
            architecture=tuple(stages) or default_p.architecture,
            residual_block_type=psec.choice(
                "residual_block_type", RESIDUAL_BLOCKS, "basic"
            ),
            attention_mechanism=_attention(psec),
            epochs=psec.integer("epochs", default_p.epochs, minimum=1),
            batch_size=psec.integer("batch_size", default_p.batch_size, minimum=1),
            learning_rate=psec.number(
                "learning_rate", default_p.learning_rate, 1e-8, 1.0
            ),
            directory=Path(psec.string("directory", "predictors")),
        ),
    )


def _critic_filters(csec: Section) -> list[int]:
    filters = csec.integer_list("filters", [64, 128, 256], minimum=1)
    if not filters:
        raise ConfigError(
            csec.message(
                "a non-empty list of integers >= 1 (one per stride-2 convolution)",
                "an empty list",
                "filters",
            )
        )
    return filters


def _check_model(cfg: Config) -> None:
    """Combinations of model settings that the networks refuse."""
    m = cfg.model
    p = m.predictor
    smallest = min(filters for filters, _ in p.architecture)
    if p.attention_mechanism in SE_ATTENTION and smallest < SE_REDUCTION:
        raise ConfigError(
            f"`model.predictor.architecture` must have at least {SE_REDUCTION} "
            f"filters in every stage with attention_mechanism "
            f"{p.attention_mechanism} (CTLearn divides the filters by "
            f"{SE_REDUCTION}; or attention_mechanism Spatial-SE or none); received "
            f"filters {[f for f, _ in p.architecture]} ({cfg.source})"
        )
    if m.generator.source_frame and m.latent_dim < 2:
        raise ConfigError(
            "`model.latent_dim` must be at least 2 with "
            "model.generator.source_frame (the rotation angle is drawn from two "
            f"noise components); received {m.latent_dim} ({cfg.source})"
        )


def _attention(psec: Section) -> str | None:
    """CTLearn's squeeze-and-excitation attention; ``none`` switches it off."""
    value = psec.choice(
        "attention_mechanism",
        ("Dual-SE", "Channel-SE", "Spatial-SE", "none"),
        "Dual-SE",
    )
    return None if value == "none" else value


def _loss(sec: Section, labels: tuple[str, ...]) -> LossConfig:
    sec.allow(
        "label_weights",
        "label_warmup_epochs",
        "gradient_penalty",
        "critic_steps",
        "label_loss",
    )
    wsec = sec.section("label_weights")
    wsec.allow(*labels)
    weights = tuple((label, wsec.number(label, 1.0, 0.0, None)) for label in labels)
    return LossConfig(
        label_weights=weights,
        label_warmup_epochs=sec.number("label_warmup_epochs", 0.0, 0.0, None),
        gradient_penalty=sec.number("gradient_penalty", 10.0, 0.0, None),
        critic_steps=sec.integer("critic_steps", 5, minimum=1),
        label_loss=sec.choice("label_loss", LABEL_LOSSES, "absolute"),
    )


def _train(sec: Section) -> TrainConfig:
    sec.allow(
        "batch_size",
        "epochs",
        "generator_learning_rate",
        "critic_learning_rate",
        "beta_1",
        "beta_2",
        "strategy",
        "label_source",
        "generator_ema",
        "checkpoint_every",
        "sample_every",
        "run_dir",
    )
    return TrainConfig(
        batch_size=sec.integer("batch_size", 64, minimum=1),
        epochs=sec.integer("epochs", 20, minimum=1),
        generator_learning_rate=sec.number("generator_learning_rate", 1e-4, 1e-8, 1.0),
        critic_learning_rate=sec.number("critic_learning_rate", 1e-4, 1e-8, 1.0),
        beta_1=sec.number("beta_1", 0.0, 0.0, 0.999999),
        beta_2=sec.number("beta_2", 0.9, 0.0, 0.999999),
        strategy=sec.choice(
            "strategy", ("mirrored", "default", "multi_worker"), "mirrored"
        ),
        label_source=sec.choice("label_source", LABEL_SOURCES, "real"),
        generator_ema=sec.number("generator_ema", 0.0, 0.0, 0.99999),
        checkpoint_every=sec.integer("checkpoint_every", 1, minimum=1),
        sample_every=sec.integer("sample_every", 1, minimum=1),
        run_dir=Path(sec.string("run_dir", "runs")),
    )
