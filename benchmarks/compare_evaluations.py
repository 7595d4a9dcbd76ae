"""Two or more `python -m studio_core evaluate --json` reports side by side, as one markdown table.

    python benchmarks/compare_evaluations.py old.json new.json --names before after

Every figure comes from the reports as written; nothing is measured here. Rows a report lacks
(for example the held-out phrasings of a run with --no-free-phrasing) are left empty.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROWS = (
    ("single", "colour", "single object: colour"),
    ("single", "position", "single object: position"),
    ("single", "shape", "single object: shape"),
    ("single", "size", "single object: size"),
    ("single", "all_objects", "single object: everything right"),
    ("pairs", "all_objects", "two objects: both right"),
    ("pairs", "binding.any_swapped", "two objects: some attribute swapped"),
    ("pairs", "binding.colour.borrowed", "two objects: colour on the wrong object"),
    ("pairs", "binding.shape.borrowed", "two objects: shape on the wrong object"),
    ("pairs", "binding.size.borrowed", "two objects: size on the wrong object"),
    ("single_free", "colour", "held-out phrasings, single: colour"),
    ("single_free", "position", "held-out phrasings, single: position"),
    ("single_free", "shape", "held-out phrasings, single: shape"),
    ("single_free", "size", "held-out phrasings, single: size"),
    ("single_free", "all_objects", "held-out phrasings, single: everything right"),
    ("pairs_free", "all_objects", "held-out phrasings, two objects: both right"),
    ("pairs_free", "binding.any_swapped", "held-out phrasings, two objects: some attribute swapped"),
    ("pairs_free", "binding.colour.borrowed", "held-out phrasings, two objects: colour on the wrong object"),
    ("pairs_free", "binding.shape.borrowed", "held-out phrasings, two objects: shape on the wrong object"),
    ("pairs_free", "binding.size.borrowed", "held-out phrasings, two objects: size on the wrong object"),
)


def figure(report: dict, section: str, path: str) -> float | None:
    value = report.get(section)
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def comparison_table(reports: list[dict], names: list[str]) -> str:
    lines = ["| measure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for section, path, label in ROWS:
        values = [figure(r, section, path) for r in reports]
        if all(v is None for v in values):
            continue
        cells = ["" if v is None else f"{100 * v:.1f} %" for v in values]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| seconds | " + " | ".join(str(r.get("seconds", "")) for r in reports) + " |")
    lines.append("| transformer precision | " + " | ".join(str(r.get("precision", "")) for r in reports) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="JSON files written by evaluate --json")
    parser.add_argument("--names", nargs="+", default=None, help="column names (default: the file names)")
    args = parser.parse_args()
    names = args.names or [Path(p).stem for p in args.reports]
    if len(names) != len(args.reports):
        parser.error(f"{len(args.reports)} reports but {len(names)} names")
    print(comparison_table([json.loads(Path(p).read_text()) for p in args.reports], names))


if __name__ == "__main__":
    main()
