"""The short markdown summary of a fidelity report: one row per metric."""

from __future__ import annotations

import math

__all__ = ["markdown_summary"]

STATUS_TEXT = {
    "pass": "pass",
    "fail": "**fail**",
    "unresolved": "unresolved (as far off as the floor)",
    "info": "info",
}


def _number(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e4):
        return f"{x:.2e}"
    return f"{x:.3f}"


def _row(section: str, name: str, e: dict) -> str:
    value = f"{_number(e.get('value'))} ± {_number(e.get('value_std'))}"
    floor = f"{_number(e.get('floor'))} ± {_number(e.get('floor_std'))}"
    target = e.get("target") or "–"
    status = STATUS_TEXT.get(e.get("status"), e.get("status"))
    return f"| {section} | {name} | {value} | {floor} | {target} | {status} |"


def _rows(report: dict) -> list[str]:
    rows = []
    for name, e in report["label_recovery"]["metrics"].items():
        kind = "rel. diff." if "relative" in e["comparison"] else "diff."
        text = (
            f"{name}: \\|{kind}\\| (all events: sim {_number(e['simulated'])}, "
            f"gen {_number(e['generated'])})"
        )
        rows.append(_row("label recovery", text, e))
    for pop, sections in report["populations"].items():
        where = f"{pop}: " if len(report["populations"]) > 1 else ""
        rows.append(
            _row(
                f"{where}parameters",
                "cleaning survival ratio",
                sections["cleaning_survival"],
            )
        )
        sep = sections["separation_power"]
        rows.append(
            _row(f"{where}parameters", "separation power, median", sep["median"])
        )
        rows.append(
            _row(
                f"{where}parameters",
                f"separation power, worst ({sep['worst']['feature']})",
                sep["worst"],
            )
        )
        cal = sections["intensity_calibration"]
        rows.append(
            _row(
                f"{where}intensity",
                "median log10 ratio, worst bin",
                cal["median_log10_ratio"],
            )
        )
        rows.append(
            _row(
                f"{where}intensity",
                "16-84 % width ratio, worst bin",
                cal["width_ratio"],
            )
        )
        rows.append(_row(f"{where}parameters", "KPD (MMD², quartic)", sections["kpd"]))
        two = sections["two_sample_classifier"]
        rows.append(
            _row(f"{where}classifier", "AUC low-level (pixels)", two["low_level"])
        )
        rows.append(
            _row(f"{where}classifier", "AUC high-level (parameters)", two["high_level"])
        )
        div = sections["diversity"]["worst"]
        rows.append(
            _row(f"{where}diversity", f"spread ratio, worst ({div['feature']})", div)
        )
    rows.append(_row("critic", "W = D(sim) − D(gen)", report["critic_wasserstein"]))
    for name, e in report.get("stereo", {}).get("metrics", {}).items():
        text = (
            f"{name}: \\|{'rel. ' if 'relative' in e['comparison'] else ''}diff.\\| "
            f"(all events: sim {_number(e['simulated'])}, "
            f"gen {_number(e['generated'])})"
        )
        rows.append(_row("stereo", text, e))
    return rows


def markdown_summary(report: dict) -> str:
    """A markdown page: sample sizes, the metric table, speed, how to read it."""
    sizes = report["sample_sizes"]
    counts = report["summary"]
    lines = [
        f"# Fidelity report: `{report['run_folder']}`",
        "",
        f"Generator: `{report['generator']}`; {sizes['validation_images']} validation "
        f"images ({sizes['showers']} showers), {report['n_resamples']} random "
        f"halvings A/B (≈ {sizes['half_A_images_mean']:.0f} / "
        f"{sizes['half_B_images_mean']:.0f} images); seed {report['seed']}.",
        "",
        f"**{counts['pass']} pass, {counts['fail']} fail, {counts['unresolved']} "
        f"unresolved**, {counts['info']} without target.",
        "",
        "| section | metric | value ± std | floor ± std | target | status |",
        "|---|---|---:|---:|---|---|",
        *_rows(report),
        "",
        "Value: generated images with the labels of half A against the simulated "
        "images of half B; floor: simulated A against simulated B; mean ± standard "
        "deviation over the halvings. *Fail*: the value misses the target by more "
        "than the floor does, beyond 3 standard deviations; *unresolved*: it misses "
        "the target, but within the noise no more than simulation itself does at "
        "this sample size.",
    ]
    speed = report.get("speed")
    if speed:
        lines += [
            "",
            f"## Speed ({speed['device']})",
            "",
            "| batch | generated images/s |",
            "|---:|---:|",
        ]
        for batch, s in speed["batches"].items():
            lines.append(f"| {batch} | {s['images_per_s']:.0f} |")
        for what, rate in speed["simulation_images_per_s"].items():
            lines.append(f"| {what} | {rate:g} |")
    lines += [
        "",
        "Plots: `feature_histograms*.png`, `label_recovery.png`, `samples.png`; "
        "every number with its sample size in `report.json`.",
        "",
    ]
    return "\n".join(lines)
