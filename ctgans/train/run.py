"""One training run: data -> predictor -> GAN -> run folder."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ctgans.config import Config
from ctgans.data import CachedDataset, prepare_dataset
from ctgans.data.disk_pipeline import worker_shards
from ctgans.data.normalize import CHARGE_CHANNELS
from ctgans.data.pipeline import split_dataset
from ctgans.data.presence import stereo_presence
from ctgans.exceptions import CtgansInputError
from ctgans.models import ConditionalWGAN, Critic, Generator
from ctgans.predictor.recovery import label_recovery
from ctgans.predictor.store import check_predictor, get_predictor
from ctgans.runs import files
from ctgans.runs.folder import (
    check_run_folder,
    claim_run_folder,
    run_folder_path,
    run_index,
)
from ctgans.runs.layout import (
    HISTORY,
    TENSORBOARD,
    latest_checkpoint,
    remove_stale_temporaries,
)
from ctgans.train.callbacks import (
    CheckpointEvery,
    GeneratorEMA,
    LabelWarmup,
    SampleGrid,
    StopOnNonFinite,
)
from ctgans.train.camera_model import (
    fit_camera_model,
    mapper_view_matrix,
    pedestal_sigma,
)
from ctgans.train.checkpoint import broadcast_state, restore_checkpoint
from ctgans.train.dataset_checks import check_dataset
from ctgans.train.history import HistoryCSV
from ctgans.train.strategy import is_chief, make_strategy, multi_worker

log = logging.getLogger(__name__)

N_SAMPLES = 8
EXCESS_NOISE_INIT = 1.2  # F^2 of the photon statistics at the start (learned)
CAMERA_SEED_OFFSET = 104729  # the camera noise's seed: run seed + this
MOMENT_SIGMAS = 3.0  # critic moments: pixels above this many pedestal sigmas


class TrainingDiverged(CtgansInputError):
    """Losses became NaN or inf; the last good checkpoint is kept."""


def camera_settings(cfg: Config, dataset: CachedDataset, camera_model) -> dict:
    """The Generator's ``camera``, ``source_frame``, ``camera_arrays``,
    ``envelope_distance``, ``envelope_length``, ``shower_intensity`` and
    ``shower_containment`` arguments (all None without
    ``model.generator.camera_noise``)."""
    if camera_model is None:
        return {
            "camera": None,
            "source_frame": None,
            "camera_arrays": None,
            "envelope_distance": None,
            "envelope_length": None,
            "shower_intensity": None,
            "shower_containment": None,
        }
    charge = dataset.normalization.transforms[0]
    height = dataset.image_shape[0]
    camera = {
        "image_size": int(height),
        "n_pixels": int(camera_model.to_square.shape[0]),
        "n_quantiles": int(len(camera_model.pedestal_quantiles)),
        "charge_scale": float(charge.a),
        "charge_divisor": float(charge.b),
        "excess_noise_init": EXCESS_NOISE_INIT,
        "seed": int(cfg.seed) + CAMERA_SEED_OFFSET,
    }
    frame = None
    if cfg.model.generator.source_frame:
        frame = {
            "label_index": list(camera_model.label_index),
            "affine": camera_model.affine.tolist(),
            # The source one sixth in from the left edge, the image axis along +x.
            "origin": [(height - 1) / 2.0, (height - 1) / 6.0],
        }
    arrays = {
        "to_camera": camera_model.to_camera,
        "to_square": camera_model.to_square,
        "pedestal_quantiles": camera_model.pedestal_quantiles,
    }
    if camera_model.pixel_points is not None:  # render: pixels
        camera["render_points"] = int(camera_model.pixel_points.shape[1])
        frame["iso_scale"] = list(camera_model.iso_scale)
        arrays["pixel_points"] = camera_model.pixel_points
        arrays["pixel_weights"] = camera_model.pixel_weights
    return {
        "camera": camera,
        "source_frame": frame,
        "camera_arrays": arrays,
        "envelope_distance": camera_model.envelope_distance,
        "envelope_length": camera_model.envelope_length,
        "shower_intensity": camera_model.shower_intensity,
        "shower_containment": camera_model.containment,
    }


def critic_moments(cfg: Config, dataset: CachedDataset, camera_model) -> dict | None:
    """The Critic's ``moments`` argument (None without ``model.critic.image_moments``).

    Pixels count in the moments above 3 standard deviations of the pedestal."""
    if not cfg.model.critic.image_moments:
        return None
    return {
        **moment_settings(dataset, camera_model),
        "label_index": list(camera_model.label_index),
        "affine": camera_model.affine.tolist(),
    }


def moment_settings(dataset: CachedDataset, camera_model) -> dict:
    """Channel 0's charge transform and the moments' pixel threshold (3 standard
    deviations of the pedestal): what differentiable moments of a network image
    need (the critic's ``image_moments``, ``loss.moment_weight``)."""
    charge = dataset.normalization.transforms[0]
    sigma = pedestal_sigma(camera_model.pedestal_quantiles)
    return {
        "charge_scale": float(charge.a),
        "charge_divisor": float(charge.b),
        "threshold_pe": MOMENT_SIGMAS * sigma,
    }


def critic_charge_views(cfg: Config, dataset: CachedDataset) -> dict | None:
    """The Critic's ``charge_views`` argument (None without
    ``model.critic.charge_views``): the charge channel's transform and the
    scales of the views."""
    if not cfg.model.critic.charge_views:
        return None
    charge = dataset.normalization.transforms[0]
    return {
        "charge_scale": float(charge.a),
        "charge_divisor": float(charge.b),
        "scales": list(cfg.model.critic.charge_views),
    }


def critic_mapper_views(cfg: Config, dataset: CachedDataset, view_matrix=None):
    """The Critic's ``mapper_views`` and ``view_matrix`` arguments (None, None
    without ``model.critic.mapper_views``); ``view_matrix`` is computed here
    when not given (:func:`~ctgans.train.camera_model.mapper_view_matrix`)."""
    if not cfg.model.critic.mapper_views:
        return None, None
    charge = dataset.normalization.transforms[0]
    views = {
        "charge_scale": float(charge.a),
        "charge_divisor": float(charge.b),
        "mappers": list(cfg.model.critic.mapper_views),
    }
    if view_matrix is None:
        view_matrix = mapper_view_matrix(cfg, dataset)
    return views, view_matrix


def needs_camera_model(cfg: Config) -> bool:
    """Whether the run fits a camera model (noise, source geometry)."""
    m = cfg.model
    return bool(
        m.generator.camera_noise
        or m.critic.image_moments
        or m.critic.source_coordinates
        or cfg.loss.moment_weight
    )


def critic_source_coordinates(cfg: Config, camera_model) -> dict | None:
    """The Critic's ``source_coordinates`` argument (None without
    ``model.critic.source_coordinates``): the label -> grid map of the camera model."""
    if not cfg.model.critic.source_coordinates:
        return None
    return {
        "label_index": list(camera_model.label_index),
        "affine": camera_model.affine.tolist(),
    }


def build_gan(
    cfg: Config,
    dataset: CachedDataset,
    predictor,
    strategy,
    camera_model=None,
    view_matrix=None,
):
    """Generator, critic and the compiled GAN, created in the strategy scope.

    ``camera_model`` (:func:`ctgans.train.camera_model.fit_camera_model`) is needed
    with ``model.generator.camera_noise``, ``view_matrix``
    (:func:`ctgans.train.camera_model.mapper_view_matrix`) with
    ``model.critic.mapper_views``; each is made here when not given."""
    m, t = cfg.model, cfg.train
    if needs_camera_model(cfg) and camera_model is None:
        camera_model = fit_camera_model(cfg, dataset, cfg.seed)
    n_labels = len(dataset.label_columns)
    activations = tuple(
        "tanh" if c in CHARGE_CHANNELS else "linear" for c in cfg.data.channels
    )
    fixed_mask, fixed_values = fixed_pixels(dataset.images[~dataset.is_validation])
    mapper_views, view_matrix = critic_mapper_views(cfg, dataset, view_matrix)
    presence_channel, threshold = stereo_presence(
        dataset.images[~dataset.is_validation], cfg.data.channels
    )
    with strategy.scope():
        generator = Generator(
            image_shape=dataset.image_shape,
            n_labels=n_labels,
            latent_dim=m.latent_dim,
            base_filters=m.generator.base_filters,
            upsampling=m.generator.upsampling,
            normalization=m.generator.normalization,
            channel_activations=activations,
            fixed_mask=fixed_mask,
            fixed_values=fixed_values,
            empty_values=empty_slot_values(dataset),
            **camera_settings(cfg, dataset, camera_model),
            precision=m.precision,
            label_film=m.generator.label_film,
            canvas_scale=m.generator.canvas_scale,
            shower_envelope=m.generator.shower_envelope,
            envelope_rate=m.generator.envelope_rate,
            envelope_at=m.generator.envelope_at,
            window_coordinates=m.generator.window_coordinates,
            window_channels=m.generator.window_channels,
        )
        critic = Critic(
            image_shape=dataset.image_shape,
            n_labels=n_labels,
            filters=m.critic.filters,
            conditioning=m.critic.conditioning,
            spectral_norm=m.critic.spectral_norm,
            moments=critic_moments(cfg, dataset, camera_model),
            minibatch_std=m.critic.minibatch_std,
            source_coordinates=critic_source_coordinates(cfg, camera_model),
            charge_views=critic_charge_views(cfg, dataset),
            mapper_views=mapper_views,
            view_matrix=view_matrix,
            precision=m.precision,
        )
        gan = ConditionalWGAN(
            generator,
            critic,
            predictor,
            latent_dim=m.latent_dim,
            label_columns=dataset.label_columns,
            seed=cfg.seed,
            presence_channel=presence_channel,
            presence_threshold=threshold,
            ema_decay=t.generator_ema,
        )
        gan.compile(
            generator_optimizer=keras.optimizers.Adam(
                t.generator_learning_rate, beta_1=t.beta_1, beta_2=t.beta_2
            ),
            critic_optimizer=keras.optimizers.Adam(
                t.critic_learning_rate, beta_1=t.beta_1, beta_2=t.beta_2
            ),
            label_weights=dict(cfg.loss.label_weights) if predictor is not None else {},
            gradient_penalty_weight=cfg.loss.gradient_penalty,
            critic_steps=cfg.loss.critic_steps,
            label_source=t.label_source,
            label_loss=cfg.loss.label_loss,
            moment_weight=cfg.loss.moment_weight,
            moments=(
                moment_settings(dataset, camera_model)
                if cfg.loss.moment_weight
                else None
            ),
        )
    return gan


def fixed_pixels(images: np.ndarray) -> tuple[list, list]:
    """Pixels that hold one value in every training image, and those values.

    On the square grid these are the pixels outside the camera (exactly 0 before
    normalisation); the generator outputs the same constant there.
    """
    fixed = np.ptp(images, axis=0) == 0
    return fixed.astype(int).tolist(), np.where(fixed, images[0], 0.0).tolist()


def empty_slot_values(dataset: CachedDataset) -> list[float] | None:
    """Stereo: each channel's value, in network units, of an empty telescope slot
    (zero charge and time before normalisation); mono: None (no telescope gate)."""
    if dataset.images.ndim != 5:
        return None
    channels = dataset.image_shape[-1]
    return dataset.normalization.forward(np.zeros((1, channels)))[0].tolist()


def run(cfg: Config, fresh: bool = False) -> Path:
    """Train (or resume) the run of ``cfg``; return the run folder.

    Under multi-worker training every worker runs this with the same config; only
    the chief writes the run folder, the others write to a temporary folder that
    is deleted at the end, and all return the chief's run folder.
    """
    strategy = make_strategy(cfg.train.strategy)  # before TensorFlow runs anything
    keras.utils.set_random_seed(cfg.seed)
    check_run_folder(cfg, fresh)  # refusals first: nothing read or written yet
    camera = {}

    def check(data):
        # Checks that need the data run before its cache is written; the camera
        # model's fits can refuse too (too few usable images), so they run here.
        check_dataset(cfg, data)
        if needs_camera_model(cfg):
            camera["model"] = fit_camera_model(cfg, data, cfg.seed)
        if cfg.model.critic.mapper_views:  # refuses a view mapper's other grid
            camera["views"] = mapper_view_matrix(cfg, data)

    dataset = prepare_dataset(cfg.data, cfg.seed, check=check)
    check_predictor(cfg, dataset)
    chief = is_chief(strategy)
    lock = None
    if chief:
        folder, resumed, lock = claim_run_folder(cfg, fresh)  # one process per folder
    else:
        folder, resumed = Path(tempfile.mkdtemp(prefix="ctgans-worker-")), False
    try:
        if resumed:
            remove_stale_temporaries(folder)
        log.info(
            "run folder %s (%s), %d replica(s)",
            folder,
            "resumed" if resumed else "new" if chief else "temporary, non-chief worker",
            strategy.num_replicas_in_sync,
        )
        return _train_in(
            cfg,
            dataset,
            strategy,
            folder,
            resumed,
            chief,
            camera.get("model"),
            camera.get("views"),
        )
    finally:
        if lock is not None:
            lock.release()
        if not chief:
            shutil.rmtree(folder, ignore_errors=True)


def _train_in(
    cfg,
    dataset,
    strategy,
    folder: Path,
    resumed: bool,
    chief: bool,
    camera_model,
    view_matrix=None,
):
    presence = stereo_presence(
        dataset.images[~dataset.is_validation], cfg.data.channels
    )
    files.write_dataset(folder, dataset, cfg.data.channels, presence)
    if camera_model is not None:
        files.write_camera_model(folder, camera_model.summary())
    predictor = _get_predictor(cfg, dataset, strategy)
    gan = build_gan(cfg, dataset, predictor, strategy, camera_model, view_matrix)
    # The critic's exact settings (incl. fitted camera constants) for evaluation.
    files.write_critic(folder, gan.critic.get_config())

    initial_epoch = 0
    checkpoint = latest_checkpoint(folder) if resumed else None
    if checkpoint is not None:
        initial_epoch = restore_checkpoint(checkpoint, gan)
        log.info("resumed from %s (epoch %d)", checkpoint, initial_epoch)
    index = run_index(folder) if chief else 0
    initial_epoch, index = broadcast_state(strategy, gan, [initial_epoch, index], chief)
    run_folder = run_folder_path(cfg, index)
    if not chief:
        log.info("chief's run folder %s, epoch %d", run_folder, initial_epoch)

    epochs = cfg.train.epochs
    if initial_epoch < epochs:
        _fit(cfg, dataset, gan, folder, initial_epoch, run_folder)
    else:
        log.info("run already trained for %d epochs", initial_epoch)
    files.save_generator(folder, gan.sampler)
    recovery = label_recovery(gan, predictor, dataset, cfg.seed)
    files.write_label_recovery(folder, recovery)
    log.info("label recovery on validation, simulated vs generated: %s", recovery)
    return run_folder


def _get_predictor(cfg: Config, dataset: CachedDataset, strategy):
    if multi_worker(strategy):
        # Keras' fit cannot build a model with compiled losses from multi-worker
        # batches, so each worker trains (or finds) the predictor alone; it is then
        # loaded under the strategy and the chief's weights are broadcast.
        get_predictor(cfg, dataset, tf.distribute.get_strategy())
    return get_predictor(cfg, dataset, strategy)


def _fit(
    cfg: Config,
    dataset: CachedDataset,
    gan,
    folder: Path,
    initial_epoch: int,
    run_folder: Path,
):
    t = cfg.train
    val = dataset.is_validation
    global_batch = t.batch_size * cfg.loss.critic_steps  # checked: check_dataset
    # Another shuffle seed per resumed segment, so a resume does not replay epoch 1.
    # Views of the cached arrays, in memory or read from the file (data.in_memory).
    shards = worker_shards() if t.strategy == "multi_worker" else (1, 0)
    train = split_dataset(
        dataset, ~val, global_batch, cfg.seed + initial_epoch, shards=shards
    )
    validation = None
    if val.sum() >= t.batch_size:
        validation = split_dataset(
            dataset, val, t.batch_size, cfg.seed, shuffle=False, shards=shards
        )
    sample_rows = np.flatnonzero(val if val.any() else ~val)[:N_SAMPLES]
    guard = StopOnNonFinite()
    callbacks = [
        guard,
        # Before the checkpoint and the sample grid: they see the updated average.
        *([GeneratorEMA(gan)] if gan.ema_generator is not None else []),
        LabelWarmup(gan, cfg.loss.label_warmup_epochs),
        # The history row before the checkpoint: a resume drops rows past it.
        HistoryCSV(folder / HISTORY, initial_epoch),
        CheckpointEvery(folder, gan, t.checkpoint_every, t.epochs, guard),
        SampleGrid(
            folder,
            gan,
            dataset.images[sample_rows],
            dataset.labels[sample_rows],
            dataset.normalization,
            dataset.label_scaler,
            t.sample_every,
            t.epochs,
            cfg.seed,
        ),
        keras.callbacks.TensorBoard(str(folder / TENSORBOARD), write_graph=False),
    ]
    gan.fit(
        train,
        validation_data=validation,
        epochs=t.epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        verbose="auto",
    )
    if guard.bad_step is not None:
        last = latest_checkpoint(run_folder)
        raise TrainingDiverged(
            f"training stopped: non-finite losses {guard.bad_values} at step "
            f"{guard.bad_step}; last good checkpoint: {last or 'none'}"
        )
