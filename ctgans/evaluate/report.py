"""The fidelity report of FIDELITY.md: every section, each metric next to its floor.

:func:`build_report` takes a run folder, generates images with the labels of its
held-out validation events, and returns the report as a JSON-able dict plus the
arrays the plots need. Sections: label recovery by two independent judges, a
CTLearn evaluation predictor and random forests on the image parameters (§1, per
population and energy bin: :mod:`ctgans.evaluate.recovery_report`), image
parameters, KPD, two-sample classifiers and diversity per
population (§2-4; per particle when ``type`` is a label), the final critic's
Wasserstein estimate, and generation speed (§5). Stereo runs compare the brightest
telescope of each event in those sections and add the stereo checks of
:mod:`ctgans.evaluate.stereo_report`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ctgans.cameras import camera_settings
from ctgans.evaluate.compare import compare_population, log_intensity_table
from ctgans.evaluate.feature_cache import cached_features, feature_cache_path
from ctgans.evaluate.features import image_features
from ctgans.evaluate.fixed_label import with_miss_distance
from ctgans.evaluate.fixed_label_report import (
    exact_label_sections,
    load_fixed_label_sample,
    nearest_label_section,
)
from ctgans.evaluate.generation import (
    generate_square,
    generator_speed,
    nearest_simulated,
    noise,
)
from ctgans.evaluate.inputs import EvaluationInputs, load_inputs
from ctgans.evaluate.orientation import source_in_geometry_frame
from ctgans.evaluate.recovery_report import label_recovery_sections
from ctgans.evaluate.request import ReportRequest
from ctgans.evaluate.stereo_report import brightest_telescope, stereo_section
from ctgans.evaluate.targets import report_entries

__all__ = ["ReportRequest", "build_report", "halvings", "statuses"]

log = logging.getLogger(__name__)

CLASS_COLUMN = "true_shower_primary_class"


@dataclass
class ReportData:
    """Arrays behind the report, for the plots.

    ``real`` and ``fake`` are the images the per-image sections compared (stereo:
    the brightest telescope of each event).
    """

    inputs: EvaluationInputs
    real: np.ndarray
    fake: np.ndarray
    sim_features: dict
    gen_features: dict
    extras: dict = field(default_factory=dict)


def halvings(groups: np.ndarray, n: int, seed: int):
    """``n`` random splits of the rows into halves A and B, whole showers each."""
    unique = np.unique(groups)
    splits = []
    for r in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA1F, r]))
        in_a = np.isin(groups, rng.permutation(unique)[: len(unique) // 2])
        splits.append((np.flatnonzero(in_a), np.flatnonzero(~in_a)))
    return splits


def build_report(request: ReportRequest) -> tuple[dict, ReportData]:
    """Compute every section of the report (see the module docstring)."""
    start = time.perf_counter()
    timings = {}

    def lap(name):
        timings[name] = round(time.perf_counter() - start - sum(timings.values()), 2)

    inputs = load_inputs(
        request.run_folder, request.n_events, request.seed, request.reference
    )
    fixed_sample = None
    if request.fixed_labels:  # read first: a bad file is refused before the work
        fixed_sample = load_fixed_label_sample(inputs, request.fixed_labels)
    physical = inputs.physical_labels
    n = len(inputs.rows)
    log.info(
        "evaluating %d held-out images (%s) of %s",
        n,
        inputs.sample_name,
        request.run_folder,
    )
    generator = None
    gen_physical = physical  # a generator's images have the requested labels
    if request.generator == "run":
        from ctgans.generate.trained_run import inference_function, load_generator

        generator = load_generator(inputs.run, request.epoch, request.seed)
        sample = inference_function(generator)
        z = noise(n, generator.latent_dim, request.seed)
        fake = generate_square(sample, inputs.labels, z)
    else:
        fake, gen_physical = nearest_simulated(inputs)
    lap("load_and_generate")
    stereo = fake.ndim == 5
    real, fake_view = inputs.images, fake
    if stereo:
        real = brightest_telescope(real, inputs.charge_channel)
        fake_view = brightest_telescope(fake, inputs.charge_channel)
    sim_pixels = inputs.camera_charges(real)
    gen_pixels = inputs.camera_charges(fake_view)
    sim_features = log_intensity_table(
        cached_features(
            _feature_cache(inputs, stereo),
            lambda: image_features(sim_pixels, inputs.geometry),
        )
    )
    gen_features = log_intensity_table(image_features(gen_pixels, inputs.geometry))
    lap("image_parameters")
    sim_square = inputs.square_charges(sim_pixels)
    gen_square = inputs.square_charges(gen_pixels)
    log_energy = physical["log_true_energy"]
    splits = halvings(inputs.groups, request.n_resamples, request.seed)

    source, focal_length_m = _source(inputs, physical)
    gen_source, _ = _source(inputs, gen_physical)
    near_tables = [
        with_miss_distance(sim_features, physical, inputs.geometry),
        with_miss_distance(gen_features, gen_physical, inputs.geometry),
    ]
    populations = {}
    for name, mask in _populations(physical).items():
        rows = np.flatnonzero(mask)
        orientation = {}
        if source is not None:
            orientation = {
                "source": (source[0][rows], source[1][rows]),
                "gen_source": (gen_source[0][rows], gen_source[1][rows]),
                "focal_length_m": focal_length_m,
                "orientation_target": name != "proton",
            }
        populations[name] = compare_population(
            {k: v[rows] for k, v in sim_features.items()},
            {k: v[rows] for k, v in gen_features.items()},
            sim_pixels[rows],
            gen_pixels[rows],
            inputs.labels[rows],
            log_energy[rows],
            halvings(inputs.groups[rows], request.n_resamples, request.seed),
            request.seed,
            square=(sim_square[rows], gen_square[rows]),
            **orientation,
        )
        if fixed_sample is None:
            populations[name]["diversity_fixed_label"] = nearest_label_section(
                *({k: v[rows] for k, v in t.items()} for t in near_tables),
                inputs.labels[rows],
                {k: v[rows] for k, v in physical.items()},
                halvings(inputs.groups[rows], request.n_resamples, request.seed),
                request.seed,
            )
    fixed_sizes = None
    if fixed_sample is not None:
        make_square = None
        if generator is not None:
            rng = np.random.default_rng(np.random.SeedSequence([request.seed, 0xF1A]))

            def make_square(labels):
                z = rng.standard_normal((len(labels), generator.latent_dim))
                return generate_square(sample, labels, z.astype(np.float32))

        sections, fixed_sizes = exact_label_sections(
            inputs,
            fixed_sample,
            make_square,
            _populations,
            lambda showers: halvings(showers, request.n_resamples, request.seed),
        )
        for name, section in sections.items():
            populations.setdefault(name, {})["diversity_fixed_label"] = section
    lap("distribution_metrics")
    from ctgans.evaluate.critic import wasserstein_entry

    recovery, per_population = label_recovery_sections(
        inputs,
        real,
        fake_view,
        sim_features,
        gen_features,
        {
            name: (
                np.flatnonzero(mask),
                halvings(inputs.groups[mask], request.n_resamples, request.seed),
            )
            for name, mask in _populations(physical).items()
        },
        splits,
    )
    for name, section in per_population.items():
        populations[name]["label_recovery"] = section
    lap("label_recovery")
    # Stereo: whole events.
    critic = wasserstein_entry(inputs, fake, splits, request.epoch)
    lap("critic")
    report = {
        "run_folder": str(request.run_folder),
        "generator": request.generator,
        "epoch": request.epoch,
        "seed": request.seed,
        "n_resamples": request.n_resamples,
        "reference": {
            "sample": inputs.sample_name,
            "files": [str(p) for p in request.reference],
            "fixed_label_files": [str(p) for p in request.fixed_labels],
        },
        "sample_sizes": {
            "validation_images": n,
            "showers": int(len(np.unique(inputs.groups))),
            "half_A_images_mean": float(np.mean([len(a) for a, _ in splits])),
            "half_B_images_mean": float(np.mean([len(b) for _, b in splits])),
            "populations": {k: int(v.sum()) for k, v in _populations(physical).items()},
            "fixed_labels": fixed_sizes,
        },
        "label_columns": list(inputs.run.label_columns),
        # The cleaning both samples' image parameters were computed with.
        "cleaning": camera_settings(inputs.geometry.name).as_dict(),
        "label_recovery": recovery,
        "populations": populations,
        "critic_wasserstein": critic,
    }
    if stereo:
        report["stereo"] = stereo_section(inputs, fake, splits)
        report["sample_sizes"]["telescope_view"] = "brightest telescope per event"
        lap("stereo")
    if request.speed and generator is not None:
        report["speed"] = generator_speed(generator, inputs)
        lap("speed")
    report["summary"] = statuses(report)
    report["seconds"] = time.perf_counter() - start
    report["timings_s"] = timings
    return report, ReportData(inputs, real, fake_view, sim_features, gen_features)


def _feature_cache(inputs: EvaluationInputs, stereo: bool):
    """Where the simulated sample's image parameters are cached (None: nowhere,
    when the sample has no cache file)."""
    path = inputs.sample.path
    if path is None or not Path(path).is_file():
        return None
    settings = {
        "mapper": inputs.run.data.mapper,
        "image_shape": inputs.inverse.image_shape,
        "view": "brightest telescope" if stereo else "telescope image",
        "charge_channel": inputs.charge_channel,
        "cleaning": camera_settings(inputs.geometry.name).as_dict(),
    }
    return feature_cache_path(Path(path), inputs.rows, settings)


def _source(inputs: EvaluationInputs, physical: dict[str, np.ndarray]):
    """True source positions of ``physical`` labels in the frame of the image
    parameters (m), and the effective focal length (m); ``(None, None)`` without
    a camera-direction label.

    The labels are in dl1-data-handler's camera frame, rotated by the camera's
    ``pix_rotation`` against the geometry's pixel positions (70.9° for MAGIC):
    unrotated, the Hillas axes of simulated gammas miss the source as a random
    axis does.
    """
    if "cam_coord_offset_x" not in physical:
        return None, None
    source = source_in_geometry_frame(
        physical["cam_coord_offset_x"], physical["cam_coord_offset_y"], inputs.geometry
    )
    telescope = inputs.reference.subarray.tel[inputs.run.tel_ids[0]]
    focal = telescope.optics.effective_focal_length.to_value("m")
    if not np.isfinite(focal) or focal <= 0:
        focal = inputs.geometry.frame.focal_length.to_value("m")
    return source, float(focal)


def _populations(physical: dict) -> dict[str, np.ndarray]:
    if CLASS_COLUMN not in physical:
        return {"all": np.ones(len(physical["log_true_energy"]), bool)}
    gamma = physical[CLASS_COLUMN] > 0.5
    return {"gamma": gamma, "proton": ~gamma}


def statuses(report: dict) -> dict:
    """Count the statuses of the registered metrics' entries (the summary's rows)."""
    counts = {"pass": 0, "fail": 0, "unresolved": 0, "info": 0}
    for _, _, e in report_entries(report):
        if e.get("status") in counts and "value" in e:
            counts[e["status"]] += 1
    return counts
