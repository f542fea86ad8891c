"""The short markdown summary of a fidelity report: one row per metric."""

from __future__ import annotations

import math

from ctgans.evaluate.targets import report_entries

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


class _Dash:
    """Formats as ``–`` whatever the format spec (a missing or NaN label field)."""

    def __format__(self, spec: str) -> str:
        return "–"


class _Number(float):
    """A label's float field: as the table's numbers without a format spec."""

    def __format__(self, spec: str) -> str:
        return _number(float(self)) if not spec else super().__format__(spec)


def _fields(e: dict) -> dict:
    """An entry's values for a label's ``{key}`` fields; ``–`` for NaN or None."""
    return {
        k: _Dash()
        if v is None or (isinstance(v, float) and not math.isfinite(v))
        else _Number(v)
        if isinstance(v, float)
        else v
        for k, v in e.items()
    }


def _rows(report: dict) -> list[str]:
    """One row per registered metric the report holds (:func:`report_entries`)."""
    return [
        _row(section, metric.label.format(**_fields(e)), e)
        for section, metric, e in report_entries(report)
    ]


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
