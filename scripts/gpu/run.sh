#!/usr/bin/env bash
# The GPU lease of 2026-11-28 (one H100, ~9 minutes; RESULTS.md §3a/§3b "GPU"): the shipped gluon
# generators' GPU µs/jet, then EPiC-FM at the published size (--preset epic) and the Hungarian
# ConVAE (+NF) trained side by side, each for the epochs that a 2-epoch probe says fit the time left.
# The device gets the repository only (≤ 64 MiB): the seven gluon files go as reduced copies
# (scripts/gpu/reduce.py SRC .gpu/data/NAME 30 1: the leading 30 reco constituents, same events,
# so the same split; the gen side zeroed: generators read the reco side), the packages the
# device lacks as wheels in .whl (awkward, awkward_cpp, uproot, cramjam, zuko, lazy_importer).
# Run there as: bash scripts/gpu/run.sh (carry .gpu and .whl); outputs in $OUT.
set -u
T0=$(date +%s); END=${END:-520}
el() { echo $(( $(date +%s) - T0 )); }
[ -n "${SKIP_INSTALL:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=6
export W=${W:-/tmp/w}; mkdir -p $W
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee $W/nvidia.txt
G=(.gpu/data/gluon_r08_s2*.h5)
H="python3 scripts/gpu/hg.py"
timeout 45 python3 scripts/gpu/bench.py ${DEV:-cuda} 2>&1 | tee $W/bench.txt
echo "[$(el) s] bench done"
python3 - <<'PY'
import json
c = json.load(open("docs/seed000/configs/convae_nf_hungarian.json"))
c["model"]["flow_epochs"] = 1
import os; json.dump(c, open(os.environ["W"] + "/hung_probe.json", "w"))
PY
C="--schedule cosine --device ${DEV:-cuda} -q --overwrite ${EXTRA:-}"
$H train epic-fm --preset epic --data "${G[@]}" -o $W/probe_epic.pt --epochs 2 --batch-size 256 --lr 1e-3 --eval-every 2 $C > $W/probe_epic.log 2>&1 &
$H train convae-nf --preset cpu --config $W/hung_probe.json --data "${G[@]}" -o $W/probe_hung.pt --epochs 2 --batch-size 128 --seed 2 $C > $W/probe_hung.log 2>&1 &
wait
echo "[$(el) s] probes done"; tail -n 3 $W/probe_*.log
left=$(( END - $(el) - 25 ))
E1=$(python3 scripts/gpu/epochs.py $W/probe_epic.pt 2 $left) || E1=60
E2=$(python3 scripts/gpu/epochs.py $W/probe_hung.vae.pt 2 $left) || E2=40
echo "epochs: epic $E1, hungarian step 1 $E2 (budget $left s)"
M=$(python3 -c "print(round(($END - $(el)) / 60, 2))")
$H train epic-fm --preset epic --data "${G[@]}" -o $W/epic_fm_gpu.pt --epochs $E1 --batch-size 256 --lr 1e-3 --eval-every 2 --patience 1000 --max-minutes $M $C > $W/epic.log 2>&1 &
P1=$!
$H train convae-nf --preset cpu --config docs/seed000/configs/convae_nf_hungarian.json --data "${G[@]}" -o $W/cnf_hung_gpu.pt --epochs $E2 --batch-size 128 --patience 1000 --seed 2 --max-minutes $M $C > $W/hung.log 2>&1 &
P2=$!
while [ $(el) -lt $END ] && { kill -0 $P1 2>/dev/null || kill -0 $P2 2>/dev/null; }; do sleep 5; done
echo "[$(el) s] stopping"; kill $P1 $P2 2>/dev/null; sleep 3
ls -la $W; tail -n 4 $W/epic.log $W/hung.log
cp $W/epic_fm_gpu.pt $OUT/ 2>/dev/null
cp $W/cnf_hung_gpu.vae.pt $OUT/ 2>/dev/null
[ -f $W/cnf_hung_gpu.pt ] && python3 scripts/gpu/pack.py $W/cnf_hung_gpu.pt $OUT/cnf_hung_gpu.fp16.pt
ls $W/*.last.pt > $W/last_files.txt 2>/dev/null
tar czf $OUT/logs.tgz -C $W --exclude='*.pt' .
echo "[$(el) s] done"; ls -la $OUT
