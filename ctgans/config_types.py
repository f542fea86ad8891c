"""The frozen dataclasses a YAML config is read into (:mod:`ctgans.config`).

Plain data, no checks: the readers in :mod:`ctgans.config_readers` fill in the
defaults and check every value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: The embedded toy dataset: file per particle, showers thrown per particle.
TOY_FILES = {"gamma": "gamma_diffuse.dl1.h5", "proton": "proton_diffuse.dl1.h5"}
EMBEDDED_EVENTS = 40000


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
    "impact": ("true_impact_distance",),
}

#: Labels that condition the generator and the critic but that no predictor task
#: reads (:mod:`ctgans.impact`): shower variables that simulation draws and the
#: images depend on, sampled with the energy at generation.
CONDITION_LABELS = ("impact",)


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
    shower_envelope: bool = False
    envelope_rate: float = 1.0
    envelope_centre: str = "learned"
    envelope_length: str = "learned"
    envelope_length_factor: float = 2.0
    envelope_length_spread: bool = False
    envelope_length_deblur: bool = False
    window_coordinates: bool = False
    window_channels: tuple[str, ...] = ("window", "along", "across", "end")
    shower_intensity: str = "learned"
    render: str = "grid"
    envelope_at: str = "canvas"
    shower_angle: str = "free"


@dataclass(frozen=True)
class CriticConfig:
    """Critic architecture."""

    filters: tuple[int, ...] = (64, 128, 256)
    conditioning: str = "projection"
    spectral_norm: bool = False
    image_moments: bool = False
    minibatch_std: bool = False
    source_coordinates: bool = False
    charge_views: tuple[float, ...] = ()
    mapper_views: tuple[str, ...] = ()


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
    moment_weight: float = 0.0


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
