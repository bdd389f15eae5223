#!/usr/bin/env bash
# The generator metric table of RESULTS.md: every shipped gluon generator on the shared test split.
set -euo pipefail
D=${1:-../shared/data}
shift || true
models=${*:-epic_fm convae convae_nf convae_nf_hungarian nf mcflow}
for m in $models; do
  if [[ $m == mcflow ]]; then
    # the seed-004 checkpoint was trained on the split of these four files
    ref=("$D"/gluon_r08_s20{1,2,3,5}.h5)
  else
    # trained on the split of every gluon file: its test split (10.5k jets)
    ref=("$D"/gluon_r08_s2*.h5)
  fi
  hepgen evaluate data/models/${m}_gluon.pt --reference "${ref[@]}" --split test \
    --n-splits 3 -o out/eval_gen_$m --overwrite
done
