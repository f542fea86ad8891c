"""The key rows of fidelity reports, one markdown table row per report.

    python scripts/report_rows.py reports/gamma-001 reports/camera_noise-001 ...

Prints: pass/fail/unresolved counts, cleaning survival, the low- and high-level
two-sample AUC, worst separation power (feature), worst diversity ratio, the
worst-bin ratio of the 16-84 % widths of log10 intensity (generated/simulated), the
energy resolution generated/simulated for both judges (CTLearn, RF), and the 68 %
miss distance of the source from the Hillas axis (generated, simulated) and the
same for a random axis (generated, simulated), as used in RESULTS.md's ablation table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = (
    "report",
    "pass/fail/unres.",
    "cleaning survival",
    "AUC pixels",
    "AUC params",
    "worst sep. power",
    "worst diversity",
    "intensity width ratio",
    "E res. gen/sim CTLearn",
    "E res. gen/sim RF",
    "miss 68 % gen / sim (deg)",
    "random axis gen / sim (deg)",
)


def _get(tree, *keys):
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _ratio(entry) -> str:
    if not entry or not entry.get("simulated"):
        return "–"
    return f"{entry['generated'] / entry['simulated']:.2f}"


def row(folder: Path) -> list[str]:
    report = json.loads((folder / "report.json").read_text())
    pop = report["populations"].get("all") or report["populations"]["gamma"]
    s = report["summary"]
    sep = pop["separation_power"]
    per_feature = sep["per_feature"]
    worst_feature = max(per_feature, key=lambda f: per_feature[f]["value"])
    div = pop["diversity"]
    worst_div = max(
        div["per_feature"],
        key=lambda f: abs(div["per_feature"][f]["value"] - 1.0),
    )
    lr = pop["label_recovery"]
    orient = _get(pop, "image_orientation", "pooled") or {}
    return [
        folder.name,
        f"{s.get('pass', 0)}/{s.get('fail', 0)}/{s.get('unresolved', 0)}",
        f"{pop['cleaning_survival']['value']:.3f}",
        f"{pop['two_sample_classifier']['low_level']['value']:.3f}",
        f"{pop['two_sample_classifier']['high_level']['value']:.3f}",
        f"{sep['worst']['value']:.3f} ({worst_feature})",
        f"{div['per_feature'][worst_div]['value']:.2f} ({worst_div})",
        f"{pop['intensity_calibration']['width_ratio']['value']:.2f}",
        _ratio(_get(lr, "ctlearn", "energy_resolution", "pooled")),
        _ratio(_get(lr, "forest", "energy_resolution", "pooled")),
        "{:.3f} / {:.3f}".format(
            orient.get("generated_deg", float("nan")),
            orient.get("simulated_deg", float("nan")),
        ),
        "{:.3f} / {:.3f}".format(
            orient.get("random_axis_generated_deg", float("nan")),
            orient.get("random_axis_simulated_deg", float("nan")),
        ),
    ]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for name in argv:
        print("| " + " | ".join(row(Path(name))) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
