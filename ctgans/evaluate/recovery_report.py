"""Label recovery by both judges (FIDELITY §1), per population and energy bin.

Judges: the CTLearn evaluation predictor (:mod:`ctgans.predictor.store`) and
random forests on the image parameters (:mod:`ctgans.evaluate.forest`), both
trained on the simulated training split only. Energy and direction are judged
per population (per particle in gamma/proton runs, never pooled); the
gamma/proton AUC needs both particles and is judged on all events. Every figure
is reported pooled over energy and in its worst energy bin among the bins with
:data:`~ctgans.evaluate.label_recovery.MIN_STATUS_PER_BIN` events.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ctgans.evaluate.binned import nan_reduce
from ctgans.evaluate.forest import FOREST_FEATURES, FOREST_SETTINGS, fit_forests
from ctgans.evaluate.forest import forest_errors as _forest_errors
from ctgans.evaluate.label_recovery import MIN_STATUS_PER_BIN, recovery_entries
from ctgans.evaluate.orientation import source_in_geometry_frame
from ctgans.evaluate.targets import LABEL_FIGURES
from ctgans.predictor.figures import energy_edges, event_errors, figures

__all__ = ["label_recovery_sections"]

log = logging.getLogger(__name__)

CLASS_COLUMN = "true_shower_primary_class"
_WANTED = {name: (kind, target) for name, (kind, target, _) in LABEL_FIGURES.items()}
_PER_POPULATION = {k: v for k, v in _WANTED.items() if k != "type_auc"}


def _ctlearn_errors(inputs, real, fake):
    from ctgans.predictor.figures import predict_labels
    from ctgans.predictor.store import get_evaluation_predictor

    predictor, meta = get_evaluation_predictor(
        inputs.dataset, inputs.config.model.predictor, inputs.config.seed
    )
    scaler = inputs.dataset.label_scaler
    sim = event_errors(predict_labels(predictor, real), inputs.labels, scaler)
    gen = event_errors(predict_labels(predictor, fake), inputs.labels, scaler)
    return (
        sim,
        gen,
        {
            "key": meta["key"],
            "seed": meta.get("seed"),
            "n_train": meta.get("n_train"),
            "validation_metrics": meta.get("validation_metrics"),
        },
    )


def _forest_judge(inputs, sim_features, gen_features, populations):
    """Forest errors on the simulated and generated images, per population's
    forests for energy and DISP, one type classifier for all."""
    from ctgans.evaluate.forest_training import training_table

    start = time.perf_counter()
    table = training_table(inputs)
    parametrised = time.perf_counter() - start
    physical = inputs.physical_labels
    n = len(physical["log_true_energy"])
    has_source = "cam_coord_offset_x" in physical
    source = train_source = None
    if has_source:
        source = source_in_geometry_frame(
            physical["cam_coord_offset_x"],
            physical["cam_coord_offset_y"],
            inputs.geometry,
        )
        train_source = source_in_geometry_frame(
            table.labels["cam_coord_offset_x"],
            table.labels["cam_coord_offset_y"],
            inputs.geometry,
        )
    has_type = CLASS_COLUMN in physical
    train_gamma = table.labels[CLASS_COLUMN] > 0.5 if has_type else None
    is_gamma = physical[CLASS_COLUMN] > 0.5 if has_type else None
    sim = {"energy_rel": np.full(n, np.nan)}
    gen = {"energy_rel": np.full(n, np.nan)}
    if has_source:
        sim["cameradirection_error"] = np.full(n, np.nan)
        gen["cameradirection_error"] = np.full(n, np.nan)
    seed = inputs.config.seed
    n_train = {}
    with threadpool_limits(1):
        for name, rows in populations.items():
            if has_type:
                learn = train_gamma if name == "gamma" else ~train_gamma
            else:
                learn = np.ones(len(table.groups), bool)
            forests = fit_forests(
                table.features,
                table.labels["log_true_energy"],
                table.groups,
                seed,
                source=train_source,
                regression_rows=learn,
            )
            n_train[name] = int(
                np.isfinite(table.features["hillas_intensity"])[learn].sum()
            )
            for errors, features in ((sim, sim_features), (gen, gen_features)):
                part = {k: v[rows] for k, v in features.items()}
                where = None if source is None else (source[0][rows], source[1][rows])
                got = _forest_errors(
                    forests, part, physical["log_true_energy"][rows], where
                )
                for key, values in got.items():
                    errors[key][rows] = values
        if has_type:
            particle = fit_forests(
                table.features,
                None,
                table.groups,
                seed,
                is_gamma=train_gamma,
            )
            for errors, features in ((sim, sim_features), (gen, gen_features)):
                got = _forest_errors(
                    particle, features, physical["log_true_energy"], is_gamma=is_gamma
                )
                errors["gammaness"], errors["is_gamma"] = got["gammaness"], is_gamma
    meta = {
        "models": "scikit-learn RandomForestRegressor (log10 E, |disp|) and "
        "RandomForestClassifier (disp sign, gamma/proton), two folds of the "
        "training showers",
        "settings": FOREST_SETTINGS,
        "features": list(FOREST_FEATURES),
        "n_train_images": n_train,
        "seconds": round(time.perf_counter() - start, 1),
        "seconds_parametrising_training_split": round(parametrised, 1),
    }
    return sim, gen, meta


def _curves(sim, gen, log_energy, edges, splits) -> dict:
    """Per-bin figures on all simulated and generated events, with the floor
    |sim A - sim B| (for the plot)."""
    every = np.arange(len(log_energy))
    sim_all = figures(sim, every, log_energy, edges)
    halves = [
        (figures(sim, a, log_energy, edges), figures(sim, b, log_energy, edges))
        for a, b in splits
    ]
    floor = {
        name: nan_reduce(
            np.nanmean,
            [
                np.abs(np.subtract(fa["per_bin"][name], fb["per_bin"][name]))
                for fa, fb in halves
            ],
        ).tolist()
        for name in sim_all["per_bin"]
    }
    return {
        "simulated": sim_all,
        "generated": figures(gen, every, log_energy, edges),
        "floor_per_bin": floor,
    }


def label_recovery_sections(
    inputs, real, fake, sim_features, gen_features, populations, splits
):
    """The run-level label-recovery section and one per population.

    Parameters
    ----------
    inputs : ctgans.evaluate.inputs.EvaluationInputs
    real, fake : numpy.ndarray
        Simulated and generated square images the CTLearn judge reads.
    sim_features, gen_features : dict of str to numpy.ndarray
        Their image parameters (log10 intensity), for the forests.
    populations : dict of str to (numpy.ndarray, list)
        Population name -> (its row indices, its halvings A/B).
    splits : list of (numpy.ndarray, numpy.ndarray)
        Halvings of all events (the gamma/proton AUC).

    Returns
    -------
    (dict, dict)
        ``report["label_recovery"]`` and ``{population: section}``.
    """
    log_energy = inputs.physical_labels["log_true_energy"]
    edges = energy_edges(log_energy)
    ctlearn_sim, ctlearn_gen, predictor = _ctlearn_errors(inputs, real, fake)
    rows_of = {name: rows for name, (rows, _) in populations.items()}
    forest_sim, forest_gen, forest = _forest_judge(
        inputs, sim_features, gen_features, rows_of
    )
    judges = {
        "ctlearn": (ctlearn_sim, ctlearn_gen),
        "forest": (forest_sim, forest_gen),
    }
    per_population = {}
    for name, (rows, pop_splits) in populations.items():
        per_population[name] = {
            judge: recovery_entries(
                {k: v[rows] for k, v in gen.items()},
                {k: v[rows] for k, v in sim.items()},
                pop_splits,
                log_energy[rows],
                edges,
                _PER_POPULATION,
            )
            for judge, (sim, gen) in judges.items()
        }
    section = {
        "evaluation_predictor": predictor,
        "forest": forest,
        "energy_edges_log10_tev": edges.tolist(),
        "min_events_per_bin_for_status": MIN_STATUS_PER_BIN,
        **_curves(ctlearn_sim, ctlearn_gen, log_energy, edges, splits),
        "forest_curves": _curves(forest_sim, forest_gen, log_energy, edges, splits),
        "note": "energy and direction per population (never pooled over "
        "particles); worst bin: among the bins with >= "
        f"{MIN_STATUS_PER_BIN} events in generated A, simulated A and B",
    }
    if "gammaness" in ctlearn_sim:
        section["both_particles"] = {
            judge: recovery_entries(
                gen, sim, splits, log_energy, edges, {"type_auc": _WANTED["type_auc"]}
            )
            for judge, (sim, gen) in judges.items()
        }
    return section, per_population
