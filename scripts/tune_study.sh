#!/usr/bin/env bash
# Optuna studies of RESULTS.md. Usage: scripts/tune_study.sh [SHARED_DATA_DIR] [first|jet|cnf|polar|all]
#  first: the first short study (lab frame; RESULTS.md §4): ConVAE loss parameters + learning rate
#         on two gluon files, 12 trials × 4 epochs × 4000 jets, median pruning; then the untuned
#         default with the same budget, and the exported best config re-trained.
#  jet:   the studies behind the converged seed-000 generators (issue 12; RESULTS.md §3b): every
#         gluon file, jet frame and σ-scaled jet terms fixed (--config); the ConVAE's loss
#         parameters (with free bits), then its architecture on the best of those; the NF's flow.
#  cnf:   ConVAE+NF's own loss parameters on the Table-5-sized network (docs/seed000/configs/convae_nf_table5_net.json
#         fixed; jet-polar frame since 2026-11-27 — the 14 jet-frame trials are study convae-nf-loss), CNF_LOSS_TRIALS (12) more trials (~3–5 min each on 2 cores), resumable, the first
#         of them Table 5's published values as the baseline (--enqueue; skipped once run); then
#         CNF_ARCH_TRIALS (8) trials of its architecture. The shipped config
#         docs/seed000/configs/convae_nf.json is that export without "flow_select" (the retrain
#         selects the flow on its NLL) and with "flow_epochs": 30 (run 2026-11-27: 10 + 11 trials).
#  polar: the "jet" studies again in the jet-polar frame the shipped ConVAE and NF now use (their
#         configs were tuned in the cartesian jet frame; issue 12): ConVAE loss parameters, then
#         its architecture, then the NF's flow; resumable (SQLite; each call adds its --trials).
#         Run 2026-11-28 (20 + 16 + 12 trials, a few seconds each; RESULTS.md §3b).
set -euo pipefail
D=${1:-../shared/data}
what=${2:-all}
frame_studies() {  # FRAME CONVAE_STUDY NF_STUDY CONVAE_OUT NF_OUT LOSS_TRIALS ("jet" and "polar" below)
  # every gluon file, FRAME (and for the ConVAE σ-scaled jet terms) fixed: the ConVAE's loss parameters
  # (study CONVAE_STUDY-loss, LOSS_TRIALS trials), its architecture on the best of those (-arch, 16),
  # the NF's flow (NF_STUDY, 12); exports and plots out/study12/CONVAE_OUT_{loss,arch}, out/study12/NF_OUT
  local frame=$1 cs=$2 ns=$3 co=$4 no=$5 trials=$6
  local G=("$D"/gluon_r08_s2*.h5) S=out/study12
  mkdir -p $S
  echo "{\"model\": {\"frame\": \"$frame\", \"jet_norm\": \"std\"}}" > "$S/fixed_$co.json"
  echo "{\"model\": {\"frame\": \"$frame\"}}" > "$S/fixed_$no.json"
  local common=(--data "${G[@]}" --epochs 4 --max-train-jets 5000 --storage sqlite:///$S/study.db)
  hepgen tune convae "${common[@]}" --config "$S/fixed_$co.json" --trials "$trials" \
    --study "$cs-loss" --export "$S/${co}_loss.json" --plots "$S/${co}_loss"
  hepgen tune convae "${common[@]}" --step architecture --base-study "$cs-loss" --trials 16 \
    --study "$cs-arch" --export "$S/${co}_arch.json" --plots "$S/${co}_arch"
  hepgen tune nf "${common[@]}" --step flow --config "$S/fixed_$no.json" --trials 12 \
    --study "$ns" --export "$S/$no.json" --plots "$S/$no"
}

if [[ $what == first || $what == all ]]; then
  G=("$D"/gluon_r08_s201.h5 "$D"/gluon_r08_s202.h5)
  mkdir -p out/study
  hepgen tune convae --data "${G[@]}" --trials 12 --epochs 4 --max-train-jets 4000 \
    --storage sqlite:///out/study/study.db --study convae-loss --export out/study/best.json --plots out/study
  hepgen train convae --preset cpu --data "${G[@]}" --epochs 4 --max-train-jets 4000 --batch-size 100 --patience 4 \
    -o out/study/default.pt -q
  seed=$(python -c "import json; print(json.load(open('out/study/best.json'))['seed'])")
  hepgen train convae --preset cpu --data "${G[@]}" --config out/study/best.json --epochs 4 --max-train-jets 4000 \
    --batch-size 100 --patience 4 --seed "$seed" -o out/study/best.pt -q
fi
if [[ $what == jet || $what == all ]]; then
  frame_studies jet convae-jet-std nf-jet-flow convae_std nf_flow 20
fi
if [[ $what == cnf || $what == all ]]; then
  G=("$D"/gluon_r08_s2*.h5)
  S=out/study12
  mkdir -p $S
  common=(--data "${G[@]}" --epochs 4 --max-train-jets 5000 --storage sqlite:///$S/study.db)
  # (hepgen tune compares and prunes convae-nf trials on EMD_sum: it sets flow_select itself)
  hepgen tune convae-nf "${common[@]}" --config docs/seed000/configs/convae_nf_table5_net.json \
    --trials "${CNF_LOSS_TRIALS:-12}" --enqueue docs/seed000/configs/convae_nf_table5_params.json \
    --study convae-nf-polar-loss --export $S/convae_nf_polar_loss.json --plots $S/convae_nf_polar_loss
  hepgen tune convae-nf "${common[@]}" --step architecture --base-study convae-nf-polar-loss \
    --trials "${CNF_ARCH_TRIALS:-8}" --study convae-nf-polar-arch --export $S/convae_nf_polar_arch.json \
    --plots $S/convae_nf_polar_arch
fi
if [[ $what == polar ]]; then
  frame_studies jet_polar convae-polar nf-polar-flow convae_polar nf_polar_flow "${POLAR_TRIALS:-20}"
fi
