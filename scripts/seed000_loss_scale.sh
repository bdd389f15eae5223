#!/usr/bin/env bash
# Issue 12's loss-scale ablation (RESULTS.md §3c): the reconstruction-tuned ConVAE (Table 5 loss) in
# the jet frame, 4 epochs on 10 000 gluon jets, with the jet terms scaled as before (mean jet pT:
# 0.5% of the loss) and in σ units (jet_norm = std); also the seed-003 MSE reconstruction and the
# seed's min-max scaling with mean-pT jet terms. Then the posterior/reconstruction diagnosis of all.
# Usage: scripts/seed000_loss_scale.sh [SHARED_DATA_DIR]   (~2 min on 2 cores)
set -euo pipefail
D=${1:-../shared/data}
G=("$D"/gluon_r08_s2*.h5)
O=out/loss_scale
mkdir -p $O
base='"frame": "jet", "linear": 512, "beta": 0.046, "alpha": 0.425, "gamma": 0.121, "gamma_pt": 1.15, "gamma_m": 11.8, "select_on": "reconstruction", "learning_rate": 1e-3'
declare -A V
V[mean_pt]="{\"model\": {$base}}"
V[std]="{\"model\": {$base, \"jet_norm\": \"std\"}}"
V[mse]="{\"model\": {$base, \"reconstruction\": \"mse\"}}"
V[minmax]="{\"model\": {$base, \"normalisation\": \"minmax\", \"output\": \"sigmoid\"}}"
for k in mean_pt std mse minmax; do
  echo "${V[$k]}" > $O/$k.json
  hepgen train convae --preset cpu --config $O/$k.json --data "${G[@]}" -o $O/$k.pt --epochs 4 \
    --batch-size 128 --max-train-jets 10000 --patience 4 -q --overwrite
done
python scripts/convae_posterior.py $O/{mean_pt,std,mse,minmax}.pt --data "${G[@]}" -n 2000 -o $O/posterior
