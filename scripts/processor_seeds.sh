#!/usr/bin/env bash
# The main job's W1 table (hepgen run on the 100-event demo sample) for several noise seeds and
# checkpoints, summarised as mean ± std of W1 / floor per observable: a single seed's table rests
# on 132 Delphes jets, so one run cannot say whether one model is worse than another.
# Usage: scripts/processor_seeds.sh [OUT_DIR] [N_SEEDS] [CHECKPOINT ...]
set -euo pipefail
OUT=${1:-out/processor_seeds}
N=${2:-5}
if (($# > 2)); then CKPTS=("${@:3}"); else CKPTS=(fastsim_ww_pu50 fastsim_vae_ww_pu50); fi
mkdir -p "$OUT"
for c in "${CKPTS[@]}"; do
  for s in $(seq 0 $((N - 1))); do
    hepgen run --checkpoint "$c" --seed "$s" -o "$OUT/$(basename "$c" .pt)-$s" --overwrite > /dev/null 2>&1
  done
done
python - "$OUT" "${CKPTS[@]}" <<'PY'
import json, sys
from pathlib import Path
import numpy as np
out, names = Path(sys.argv[1]), [Path(c).stem for c in sys.argv[2:]]
runs = {n: [json.loads(p.read_text()) for p in sorted(out.glob(f"{n}-*/fidelity.json"))] for n in names}
obs = [k for k, v in runs[names[0]][0].items() if isinstance(v, dict) and "floor" in v]
print(f"W1 / floor, mean ± std over {len(runs[names[0]])} noise seeds (floor and Delphes fixed)\n")
print("| observable | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
for o in obs:
    cells = []
    for n in names:
        r = np.array([d[o]["hepgen"] / d[o]["floor"] for d in runs[n]])
        cells.append(f"{r.mean():.2f} ± {r.std():.2f}")
    print(f"| {o} | " + " | ".join(cells) + " |")
PY
