"""Summarise the emoji model's training logs: loss by step and seconds a step, for the model card,
and write them beside the weights (tokenizer/ and transformer/ training_report.json).

    python benchmarks/emoji_training_report.py --tokenizer-work runs/emoji-tokenizer \
        --transformer-work runs/emoji-transformer --checkpoint checkpoints/emoji-v1 [--continues]

The logs are append-only across resumed runs: a step logged twice (a run stopped after its last
save and resumed) counts once, its last line; seconds a step are the medians of the differences
between consecutive lines of one run (`elapsed_s` restarts with every run).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seconds_per_step(lines: list[dict]) -> list[float]:
    gaps = []
    for before, after in zip(lines, lines[1:]):
        if after["step"] == before["step"] + 1 and after["elapsed_s"] > before["elapsed_s"]:
            gaps.append(after["elapsed_s"] - before["elapsed_s"])
    return gaps


def by_window(lines: list[dict], key: str, window: int) -> list[dict]:
    last = {line["step"]: line for line in lines}  # a resumed step counts once
    steps = sorted(last)
    rows = []
    ends = list(range(window, steps[-1] + 1, window)) if steps else []
    if steps and (not ends or ends[-1] < steps[-1]):
        ends.append(steps[-1])  # the last, partial window
    for end in ends:
        begin = (end - 1) // window * window + 1
        values = [last[s][key] for s in range(begin, end + 1) if s in last]
        if values:
            rows.append({"steps": f"{begin}-{end}", f"mean_{key}": round(statistics.mean(values), 4)})
    return rows


def summary(lines: list[dict], key: str, window: int) -> dict:
    gaps = seconds_per_step(lines)
    return {
        "steps_done": max((line["step"] for line in lines), default=0),
        "median_s_per_step": round(statistics.median(gaps), 2) if gaps else None,
        "logged_seconds": round(sum(gaps), 1),
        f"{key}_by_steps": by_window(lines, key, window),
    }


def write_report(part: Path, report: dict) -> None:
    """The report beside a part's weights (tokenizer/ or transformer/ training_report.json)."""
    part.mkdir(parents=True, exist_ok=True)
    (part / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer-work", default="runs/emoji-tokenizer")
    parser.add_argument("--transformer-work", default="runs/emoji-transformer")
    parser.add_argument("--checkpoint", default="checkpoints/emoji-v1")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--continues", action="store_true",
                        help="the transformer run started from the weights now in the checkpoint (--init-from): "
                             "their report is kept inside the new one as continued_from")
    args = parser.parse_args()
    checkpoint = Path(args.checkpoint)

    reports = []
    tok_work = Path(args.tokenizer_work)
    if (tok_work / "train_log.jsonl").exists():
        tok = summary(read_log(tok_work / "train_log.jsonl"), "psnr", args.window)
        final = tok_work / "tokenizer_report.json"
        if final.exists():
            tok["final_report"] = json.loads(final.read_text())
        write_report(checkpoint / "tokenizer", tok)
        reports.append(("tokenizer", tok, "psnr"))
    else:  # a tokenizer trained in an earlier session: its report beside the weights stays
        print(f"tokenizer: no log in {tok_work}; the report beside its weights is left as it is")

    tr_work = Path(args.transformer_work)
    tr = summary(read_log(tr_work / "train_log.jsonl"), "masked", args.window)
    marker = tr_work / "state" / "step.json"
    if marker.exists():  # the weights are those of the last save, not of the last logged step
        tr["saved_step"] = json.loads(marker.read_text())["step"]
    run = tr_work / "train_summary.json"
    if run.exists():
        tr["last_run"] = json.loads(run.read_text())
    earlier = checkpoint / "transformer" / "training_report.json"
    if args.continues and earlier.exists():
        tr["continued_from"] = json.loads(earlier.read_text())
    write_report(checkpoint / "transformer", tr)

    reports.append(("transformer", tr, "masked"))
    for name, report, key in reports:
        saved = f" (weights of the step-{report['saved_step']} save)" if "saved_step" in report else ""
        print(f"\n{name}: {report['steps_done']} steps logged{saved}, median {report['median_s_per_step']} s a step, "
              f"{report['logged_seconds']:.0f} s logged")
        print(f"| steps | mean training {key} |\n|---|---|")
        for row in report[f"{key}_by_steps"]:
            print(f"| {row['steps']} | {row[f'mean_{key}']} |")


if __name__ == "__main__":
    main()
