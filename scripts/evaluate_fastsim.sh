#!/usr/bin/env bash
# RESULTS.md §2: the fast-sims against the Delphes floor, per process, on held-out events.
# Usage: [DRAWS=N] scripts/evaluate_fastsim.sh [SHARED_DATA_DIR] [OUT_DIR]
# Each model is evaluated with the file list it was trained on (the split is by event over
# that list), restricted to one process with --only-files; files it never saw are all held out.
set -euo pipefail
D=${1:-../shared/data}
OUT=${2:-out/eval}
WW=("$D"/fastsim_ww_pu50_highpt_s1*.h5)
ALL=("${WW[@]}" "$D"/fastsim_qcd_pu50_highpt_s*.h5 "$D"/fastsim_ttbar_pu50_highpt_s*.h5)
mkdir -p "$OUT"
# DRAWS=N: N simulations per gen jet pooled in the response tables (hepgen evaluate --draws)
E="hepgen evaluate --n-splits 10 --overwrite --draws ${DRAWS:-1}"
# the default (trained on WW + QCD + ttbar) and the identity baseline, per process
for p in ww qcd ttbar; do
  $E fastsim_ww_pu50 --reference "${ALL[@]}" --only-files "_${p}_" -o "$OUT/mixed-$p"
done
# the default with its response flow also conditioned on the gen particle content (same split)
for p in ww qcd ttbar; do
  $E fastsim_content_ww_pu50 --reference "${ALL[@]}" --only-files "_${p}_" -o "$OUT/content-$p"
done
# the bigger v2 trained on a GPU (same data and split as the default)
for p in ww qcd ttbar; do
  $E fastsim_big_ww_pu50 --reference "${ALL[@]}" --only-files "_${p}_" -o "$OUT/big-$p"
done
# v2 trained on WW only: on its own WW test split, and transferred to QCD and ttbar
$E fastsim_fm_ww_pu50 --reference "${WW[@]}" -o "$OUT/wwonly-ww"
for p in qcd ttbar; do
  $E fastsim_fm_ww_pu50 --reference "${ALL[@]}" --only-files "_${p}_" -o "$OUT/wwonly-$p"
done
# ... and on every jet of the QCD and ttbar files (it never saw them: all held out, 6-7x the jets
# of the test split, so the floors are ~3x smaller and a systematic mismodelling shows)
for p in qcd ttbar; do
  $E fastsim_fm_ww_pu50 --reference "$D"/fastsim_${p}_pu50_highpt_s*.h5 --split all -o "$OUT/wwonly-$p-all"
done
# seed 001's VAE (residual-cone; trained on s111/s113/s114 — see RESULTS.md for the overlap)
$E fastsim_vae_ww_pu50 --reference "${WW[@]}" -o "$OUT/vae-ww"
# below 200 GeV (gen jets from 100 GeV, reco jets above 130 GeV in the W1s): the default per
# process on its test split, and on inclusive WW (never used in training; every jet)
LOW=(--min-pt 130 --pt-bins 100 130 160 200 300)
for p in ww qcd ttbar; do
  $E fastsim_ww_pu50 --reference "${ALL[@]}" --only-files "_${p}_" "${LOW[@]}" -o "$OUT/low-mixed-$p"
done
if compgen -G "$D/fastsim_ww_pu50_s*.h5" > /dev/null; then
  $E fastsim_ww_pu50 --reference "$D"/fastsim_ww_pu50_s*.h5 --split all --min-pt 130 \
    --pt-bins 100 130 160 200 300 400 600 1500 -o "$OUT/mixed-ww-inclusive"
fi
