"""One reader per YAML section: a :class:`~ctgans.config_schema.Section` in, a
frozen dataclass of :mod:`ctgans.config_types` out.

Each reader checks the keys and values of its own section; checks across sections
are in :mod:`ctgans.config_checks`.
"""

from __future__ import annotations

import glob
from pathlib import Path

from ctgans.choices import (
    CHARGE_VIEW_MAX,
    CHARGE_VIEW_MIN,
    CONDITIONING,
    ENVELOPE_AT,
    ENVELOPE_SETTINGS,
    LABEL_LOSSES,
    LABEL_SOURCES,
    NORMALIZATION,
    PRECISIONS,
    RENDER,
    RESIDUAL_BLOCKS,
    SHOWER_ANGLE,
    UPSAMPLING,
    VIEW_MAPPERS,
    WINDOW_CHANNELS,
)
from ctgans.config_schema import Section
from ctgans.config_types import (
    CONDITION_LABELS,
    EMBEDDED_EVENTS,
    TOY_FILES,
    CriticConfig,
    CutConfig,
    DataConfig,
    GeneratorConfig,
    LossConfig,
    ModelConfig,
    PredictorConfig,
    ToyDatasetConfig,
    TrainConfig,
)
from ctgans.exceptions import ConfigError

LABELS = ("type", "energy", "cameradirection", "skydirection", "impact")
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


def read_data(sec: Section, check_files: bool) -> DataConfig:
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
    mode = sec.choice("mode", ("mono", "stereo"), "mono")
    if "impact" in labels and mode != "mono":
        raise ConfigError(
            sec.message(
                "without impact in stereo mode (impact is one distance per "
                "telescope image: data.mode mono)",
                f"{list(labels)} with mode {mode}",
                key="labels",
            )
        )
    if labels and all(label in CONDITION_LABELS for label in labels):
        raise ConfigError(
            sec.message(
                "at least one label besides impact (type, energy, cameradirection, "
                "skydirection)",
                str(list(labels)),
                key="labels",
            )
        )
    return DataConfig(
        signal=signal,
        background=background,
        toy_dataset=toy,
        tel_types=tel_types,
        tel_ids=tuple(ids) if ids is not None else None,
        mode=mode,
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


def read_model(sec: Section) -> ModelConfig:
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
        "shower_envelope",
        "envelope_rate",
        "envelope_centre",
        "envelope_length",
        "envelope_length_factor",
        "envelope_length_spread",
        "envelope_length_deblur",
        "window_coordinates",
        "window_channels",
        "shower_intensity",
        "render",
        "envelope_at",
        "shower_angle",
    )
    csec = sec.section("critic")
    csec.allow(
        "filters",
        "conditioning",
        "spectral_norm",
        "image_moments",
        "minibatch_std",
        "source_coordinates",
        "charge_views",
        "mapper_views",
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
            shower_envelope=gsec.boolean("shower_envelope", False),
            envelope_rate=gsec.number("envelope_rate", 1.0, minimum=1.0),
            envelope_centre=gsec.choice(
                "envelope_centre", ENVELOPE_SETTINGS, "learned"
            ),
            envelope_length=gsec.choice(
                "envelope_length", ENVELOPE_SETTINGS, "learned"
            ),
            envelope_length_factor=gsec.number(
                "envelope_length_factor", 2.0, minimum=0.5, maximum=4.0
            ),
            envelope_length_spread=gsec.boolean("envelope_length_spread", False),
            envelope_length_deblur=gsec.boolean("envelope_length_deblur", False),
            window_coordinates=gsec.boolean("window_coordinates", False),
            window_channels=tuple(
                gsec.choice_list(
                    "window_channels", WINDOW_CHANNELS, list(WINDOW_CHANNELS)
                )
            ),
            shower_intensity=gsec.choice(
                "shower_intensity", ENVELOPE_SETTINGS, "learned"
            ),
            render=gsec.choice("render", RENDER, "grid"),
            envelope_at=gsec.choice("envelope_at", ENVELOPE_AT, "canvas"),
            shower_angle=gsec.choice("shower_angle", SHOWER_ANGLE, "free"),
        ),
        critic=CriticConfig(
            filters=tuple(_critic_filters(csec)),
            conditioning=csec.choice("conditioning", CONDITIONING, "projection"),
            spectral_norm=csec.boolean("spectral_norm", False),
            image_moments=csec.boolean("image_moments", False),
            minibatch_std=csec.boolean("minibatch_std", False),
            source_coordinates=csec.boolean("source_coordinates", False),
            charge_views=tuple(
                csec.number_list("charge_views", [], CHARGE_VIEW_MIN, CHARGE_VIEW_MAX)
            ),
            mapper_views=tuple(
                csec.choice_list("mapper_views", VIEW_MAPPERS)
                if csec.list("mapper_views", [])
                else ()
            ),
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


def _attention(psec: Section) -> str | None:
    """CTLearn's squeeze-and-excitation attention; ``none`` switches it off."""
    value = psec.choice(
        "attention_mechanism",
        ("Dual-SE", "Channel-SE", "Spatial-SE", "none"),
        "Dual-SE",
    )
    return None if value == "none" else value


def read_loss(sec: Section, labels: tuple[str, ...]) -> LossConfig:
    sec.allow(
        "label_weights",
        "label_warmup_epochs",
        "gradient_penalty",
        "critic_steps",
        "label_loss",
        "moment_weight",
    )
    wsec = sec.section("label_weights")
    predicted = tuple(label for label in labels if label not in CONDITION_LABELS)
    wsec.allow(*predicted)  # a condition label has no predictor task to weigh
    weights = tuple((label, wsec.number(label, 1.0, 0.0, None)) for label in predicted)
    return LossConfig(
        label_weights=weights,
        label_warmup_epochs=sec.number("label_warmup_epochs", 0.0, 0.0, None),
        gradient_penalty=sec.number("gradient_penalty", 10.0, 0.0, None),
        critic_steps=sec.integer("critic_steps", 5, minimum=1),
        label_loss=sec.choice("label_loss", LABEL_LOSSES, "absolute"),
        moment_weight=sec.number("moment_weight", 0.0, 0.0, None),
    )


def read_train(sec: Section) -> TrainConfig:
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
