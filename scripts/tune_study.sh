#!/usr/bin/env bash
# The short Optuna study of RESULTS.md: ConVAE loss parameters + learning rate (seed 000's first
# step) on two gluon files, 12 trials × 4 epochs × 4000 jets, median pruning; then the untuned
# default with the same budget, and the exported best config re-trained.
set -euo pipefail
D=${1:-../shared/data}
G=("$D"/gluon_r08_s201.h5 "$D"/gluon_r08_s202.h5)
mkdir -p out/study
hepgen tune convae --data "${G[@]}" --trials 12 --epochs 4 --max-train-jets 4000 \
  --storage sqlite:///out/study/study.db --study convae-loss --export out/study/best.json --plots out/study
hepgen train convae --preset cpu --data "${G[@]}" --epochs 4 --max-train-jets 4000 --batch-size 100 --patience 4 \
  -o out/study/default.pt -q
seed=$(python -c "import json; print(json.load(open('out/study/best.json'))['seed'])")
hepgen train convae --preset cpu --data "${G[@]}" --config out/study/best.json --epochs 4 --max-train-jets 4000 \
  --batch-size 100 --patience 4 --seed "$seed" -o out/study/best.pt -q
