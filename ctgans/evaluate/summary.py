"""The short markdown summary of a fidelity report: one row per metric."""

from __future__ import annotations

import math

from ctgans.evaluate.targets import METRICS, RUN_METRICS

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


def _at(node: dict, path: tuple[str, ...]) -> dict | None:
    """The entry at ``path``, None where the report has no such section."""
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


class _Dash:
    """Formats as ``–`` whatever the format spec (a missing or NaN label field)."""

    def __format__(self, spec: str) -> str:
        return "–"


def _fields(e: dict) -> dict:
    """An entry's values for a label's ``{key}`` fields; ``–`` for NaN or None."""
    return {
        k: _Dash()
        if v is None or (isinstance(v, float) and not math.isfinite(v))
        else v
        for k, v in e.items()
    }


def _rows(report: dict) -> list[str]:
    rows = []
    for metric in RUN_METRICS.values():
        e = _at(report, metric.path)
        if e is not None:
            rows.append(_row(metric.section, metric.label.format(**_fields(e)), e))
    for pop, sections in report["populations"].items():
        where = f"{pop}: " if len(report["populations"]) > 1 else ""
        for metric in METRICS.values():
            e = _at(sections, metric.path)
            if e is not None:
                label = metric.label.format(**_fields(e))
                rows.append(_row(f"{where}{metric.section}", label, e))
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
        f"Generator: `{report['generator']}`; {sizes['validation_images']} held-out "
        f"images of the {report.get('reference', {}).get('sample', 'validation split')}"
        f" ({sizes['showers']} showers), {report['n_resamples']} random "
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
