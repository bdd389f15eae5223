#!/usr/bin/env bash
# The generator metric table of RESULTS.md: every shipped gluon generator on the shared test split.
set -euo pipefail
D=${1:-../shared/data}
shift || true
models=${*:-convae convae_nf nf mcflow}
for m in $models; do
  hepgen evaluate data/models/${m}_gluon.pt --reference "$D"/gluon_r08_s20{1,2,3,5}.h5 --split test \
    --n-splits 3 -o out/eval_gen_$m
done
