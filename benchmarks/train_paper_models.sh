#!/usr/bin/env bash
# Train the models of the paper comparison (`python -m studio_core evaluate --suite paper`):
# one size (width 128, 4 layers), one budget (1500 steps of 32), one tokenizer, one text encoder,
# one encoded data set; only the order, the architecture and (qerror-low-late, the training-recipe
# ablation) where the masked fractions fall differ. Each run resumes if stopped.
#   benchmarks/train_paper_models.sh [TOKENIZER_DIR]      (default: the bundled model's tokenizer)
#   MODELS="qerror-high" benchmarks/train_paper_models.sh (only the named models; default all five)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TOKENIZER=${1:-checkpoints/shapes-v1/tokenizer}
COMMON="--tokenizer $TOKENIZER --examples 48000 --steps 1500 --width 128 --depth 4 --heads 4"
MODELS=${MODELS:-raster-ar random qerror-low qerror-high qerror-low-late}
# name:order:architecture[:extra options, comma-separated]
for spec in raster-ar:raster:raster-ar random:random:progressive \
            qerror-low:qerror-low-first:progressive qerror-high:qerror-high-first:progressive \
            qerror-low-late:qerror-low-first:progressive:--late-share=0.5,--loss-mean=example; do
  IFS=: read -r name order arch extra <<< "$spec"
  [[ " $MODELS " == *" $name "* ]] || continue
  started=$(date +%s)
  # The pictures and prompts are encoded once (about 20 minutes here) and shared by the four runs.
  mkdir -p "runs/paper-work/$name" runs/paper-work/shared
  for f in encoded_48000.pt; do
    [ -e "runs/paper-work/shared/$f" ] && [ ! -e "runs/paper-work/$name/$f" ] && ln "runs/paper-work/shared/$f" "runs/paper-work/$name/$f"
  done
  $PY -m studio_core train-transformer $COMMON --order "$order" --architecture "$arch" ${extra//,/ } \
      --work "runs/paper-work/$name" --out "runs/paper/$name"
  [ -e runs/paper-work/shared/encoded_48000.pt ] || ln "runs/paper-work/$name/encoded_48000.pt" runs/paper-work/shared/
  mkdir -p "checkpoints/paper/$name"
  rm -rf "checkpoints/paper/$name/transformer"
  cp -r "runs/paper/$name/transformer" "checkpoints/paper/$name/transformer"
  $PY - "$name" "$started" <<'PYTHON'
import json, sys, time
from pathlib import Path
name, started = sys.argv[1], int(sys.argv[2])
summary = json.loads(Path(f"runs/paper-work/{name}/train_summary.json").read_text())
log = [json.loads(l) for l in Path(f"runs/paper-work/{name}/train_log.jsonl").read_text().splitlines()]
report = {**summary, "wall_seconds": round(time.time() - started), "final_loss_last_50": sum(r["masked"] for r in log[-50:]) / 50}
Path(f"checkpoints/paper/{name}/transformer/training_report.json").write_text(json.dumps(report, indent=2) + "\n")
PYTHON
done
