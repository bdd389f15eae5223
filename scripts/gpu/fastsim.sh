#!/usr/bin/env bash
# The fast-sim's GPU lease (2026-11-28, fifth session; one H200; RESULTS.md §2 "GPU"): the default
# fast-sim's GPU µs/jet, then its stage 1 (scripts/train_shipped.sh fastsim-mixed: the 9 WW + QCD +
# tt̄ files, --balance, cosine lr 1e-3, batch 256) trained twice side by side on the GPU — the
# default architecture for as many epochs as fit ("longer") and a wider, deeper particle network
# (--preset gpu, "bigger"; at the lease a --config JSON
# with its two settings, hidden 128 and layers 4) — each for the epochs that a 1-epoch probe says fit.
# Stage 2 (the response-flow refit, 268 s on 2 CPU cores) and the evaluation run on the CPU after.
#
# The device gets the repository only (≤ 64 MiB), so the nine files (85 MB) travel in two calls
# to one warm machine: `bash scripts/gpu/fastsim.sh stage` (carry .whl and .gpu/d1: install the
# wheels, copy the files to /tmp/data, benchmark), then at once `bash scripts/gpu/fastsim.sh train`
# (carry .gpu/d2). Outputs in $OUT.
set -u
T0=$(date +%s); END=${END:-520}
el() { echo $(( $(date +%s) - T0 )); }
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
D=${D:-/tmp/data}; mkdir -p $D
if [ "${1:-}" = stage ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  cp .gpu/d1/* $D/ && ls $D
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  timeout 60 python3 scripts/gpu/fastsim_bench.py | tee $OUT/bench.txt
  exit 0
fi
cp .gpu/d2/* $D/ && ls $D
F=("$D"/fastsim_ww_pu50_highpt_s1*.h5 "$D"/fastsim_qcd_pu50_highpt_s*.h5 "$D"/fastsim_ttbar_pu50_highpt_s*.h5)
[ ${#F[@]} -eq 9 ] || { echo "expected 9 files in $D, found ${#F[@]} (did the machine stay warm?)"; exit 3; }
W=${W:-/tmp/w}; mkdir -p $W
H="python3 scripts/gpu/hg.py"
C=(train fastsim-fm --data "${F[@]}" --balance --exclude-events "$D"/delphes_ww_pu50_highpt_100ev.h5
   --schedule cosine --lr 1e-3 --batch-size 256 --device ${DEV:-cuda} -q --overwrite ${EXTRA:-})
$H "${C[@]}" -o $W/probe_base.pt --epochs 1 > $W/probe_base.log 2>&1 &
$H "${C[@]}" --preset gpu -o $W/probe_big.pt --epochs 1 > $W/probe_big.log 2>&1 &
wait
echo "[$(el) s] probes done"; tail -n 2 $W/probe_*.log
left=$(( END - $(el) - 30 ))
E1=$(python3 scripts/gpu/epochs.py $W/probe_base.pt 1 $left) || E1=40
E2=$(python3 scripts/gpu/epochs.py $W/probe_big.pt 1 $left) || E2=30
echo "epochs: base $E1, big $E2 (budget $left s)"
M=$(python3 -c "print(round(($END - $(el) - 10) / 60, 2))")
$H "${C[@]}" -o $W/fsfm_gpu_long.pt --epochs $E1 --patience 1000 --max-minutes $M > $W/long.log 2>&1 &
P1=$!
$H "${C[@]}" --preset gpu -o $W/fsfm_gpu_big.pt --epochs $E2 --patience 1000 --max-minutes $M > $W/big.log 2>&1 &
P2=$!
while [ $(el) -lt $END ] && { kill -0 $P1 2>/dev/null || kill -0 $P2 2>/dev/null; }; do sleep 5; done
echo "[$(el) s] stopping"; kill $P1 $P2 2>/dev/null; sleep 3
tail -n 3 $W/long.log $W/big.log
for f in fsfm_gpu_long fsfm_gpu_big; do
  cp $W/$f.pt $OUT/ 2>/dev/null; cp $W/$f.pt.last.pt $OUT/$f.last.pt 2>/dev/null
done
tar czf $OUT/logs.tgz -C $W --exclude='*.pt' .
echo "[$(el) s] done"; ls -la $OUT
