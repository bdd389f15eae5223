#!/usr/bin/env bash
# The exact commands that trained the checkpoints shipped in data/models/ (2-core CPU machine).
# Usage: scripts/train_shipped.sh [SHARED_DATA_DIR] [fastsim|fastsim-v2|fastsim-mixed|fastsim-content|fastsim-big|generator-fm|generators|seed003|all]
# Every family of files is taken with a glob: more seeds in SHARED_DATA_DIR are used as they appear.
set -euo pipefail
half_weights() {  # a checkpoint's floating-point weights stored as float16, in place
  python - "$1" <<'PY'
import sys, torch
c = torch.load(sys.argv[1], weights_only=True)
c["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in c["state_dict"].items()}
torch.save(c, sys.argv[1])
PY
}
fsfm_settings() {  # the fast-sim v2 inference settings chosen after training (RESULTS.md §2), in place
  python - "$@" <<'PY'
import os, sys, torch
for f in sys.argv[1:]:
    if os.path.exists(f):
        c = torch.load(f, weights_only=True)
        c["config"].update(steps=3, project_mass=True, contain=True, contain_antikt=True, min_pt=0.26, mass_mode="radial",
                           project_axis=True)
        if c["config"].get("substructure_response"):
            c["config"].update(project_substructure=True, projection_rounds=16, close_mass=True, flows_mode="hard")
        torch.save(c, f)
PY
}
add_substructure() {  # CKPT FILE...: fit CKPT's substructure flow on its training files, response kept, in place
  mkdir -p out
  echo '{"model": {"substructure_response": true}}' > out/substructure.json
  hepgen train fastsim-fm --refit-response "$1" --config out/substructure.json --data "${@:2}" \
    --exclude-events "$DEMO" -o "$1.sub.pt" --epochs 100 --schedule cosine --lr 3e-4 --patience 20 --batch-size 512 -q --overwrite
  mv "$1.sub.pt" "$1"
  rm -f "$1.sub.pt.last.pt"
}
add_tail() {  # CKPT FILE...: fit CKPT's soft tail (its reco constituents beyond the leading 50, for the
  # processor's whole jets; RESULTS.md §2 "Whole jets: the soft tail") on its training files, in place; last,
  # as refits write checkpoints without it
  hepgen train fastsim-fm --fit-tail "$1" --data "${@:2}" --exclude-events "$DEMO" -o "$1.tail.pt" \
    --epochs 100 --schedule cosine --lr 3e-4 --patience 20 --batch-size 512 -q --overwrite
  mv "$1.tail.pt" "$1"
}
D=${1:-../shared/data}
what=${2:-all}
WW=("$D"/fastsim_ww_pu50_highpt_s1*.h5)
ALL=("${WW[@]}" "$D"/fastsim_qcd_pu50_highpt_s*.h5 "$D"/fastsim_ttbar_pu50_highpt_s*.h5)
# The shipped 100-event demo sample is the first 100 events of s111: hold them out of training.
DEMO="$D"/samples/expected/delphes_ww_pu50_highpt_100ev.h5
if [[ $what == fastsim-v2 || $what == all ]]; then
  # fast-sim v2 (FSFM), boosted WW only: the transfer baseline of RESULTS.md §2b
  hepgen train fastsim-fm --data "${WW[@]}" --exclude-events "$DEMO" -o data/models/fastsim_fm_ww_pu50.pt \
    --epochs 100 --schedule cosine --lr 1e-3 --batch-size 256 --patience 30 --max-minutes 62 --overwrite
fi
if [[ $what == fastsim-mixed || $what == all ]]; then
  # fast-sim v2 trained across processes (WW + QCD + ttbar, processes balanced): the default
  hepgen train fastsim-fm --data "${WW[@]}" "$D"/fastsim_qcd_pu50_highpt_s*.h5 "$D"/fastsim_ttbar_pu50_highpt_s*.h5 \
    --balance --exclude-events "$DEMO" -o data/models/fastsim_ww_pu50.pt \
    --epochs 50 --schedule cosine --lr 1e-3 --batch-size 256 --patience 50 --max-minutes 50 --overwrite
fi
if [[ $what == fastsim-v2 || $what == fastsim-mixed || $what == all ]]; then
  # stage 2 (2026-11-27): the jet-response flow re-trained on its own, selected on its own
  # validation NLL (hepgen.train.fastsim_fm.refit_response; RESULTS.md §2), not process-balanced
  # (the balanced refit had a higher test NLL on every process, QCD and ttbar included).
  # --members 5 (2026-11-28): five refits, seeds 0-4, and their uniform mixture as the response
  # (RESULTS.md §2 "An ensemble of refits": validation NLL 0.877 against 0.888-0.890 for each)
  R=(--epochs 100 --schedule cosine --lr 3e-4 --patience 20 --batch-size 512 --members 5 -q --overwrite)
  if [[ $what != fastsim-mixed ]]; then
    hepgen train fastsim-fm --refit-response data/models/fastsim_fm_ww_pu50.pt --data "${WW[@]}" \
      --exclude-events "$DEMO" -o data/models/fastsim_fm_ww_pu50.refit.pt "${R[@]}"
    mv data/models/fastsim_fm_ww_pu50.refit.pt data/models/fastsim_fm_ww_pu50.pt
  fi
  if [[ $what != fastsim-v2 ]]; then
    hepgen train fastsim-fm --refit-response data/models/fastsim_ww_pu50.pt --data "${WW[@]}" \
      "$D"/fastsim_qcd_pu50_highpt_s*.h5 "$D"/fastsim_ttbar_pu50_highpt_s*.h5 \
      --exclude-events "$DEMO" -o data/models/fastsim_ww_pu50.refit.pt "${R[@]}"
    mv data/models/fastsim_ww_pu50.refit.pt data/models/fastsim_ww_pu50.pt
  fi
  rm -f data/models/*.refit.pt.last.pt data/models/*.refit.pt.member*
  # inference settings chosen after training (benchmarks/fastsim.py, hepgen run; RESULTS.md §2):
  # 3 ODE steps, mass projection (radial: the cone edge stays), cone containment, no particle
  # below the EFlow threshold; anti-kt stable sets (contain_antikt, 2026-12-05: reclustering keeps them whole);
  # the jet axis at the response flow's Δη, Δφ draw (project_axis, 2026-12-06: the direction resolution)
  # and, where there is a substructure flow, each annulus scaled to its Flow_1..4 draw, in 16
  # rounds with the mass projection (project_substructure, 2026-12-06), then the sets the annuli and
  # anti-kt left off their mass projected once more (close_mass, nineteenth session: RESULTS.md §2
  # "The projections hit the drawn mass"); each annulus' change taken mostly from its hard particles
  # (flows_mode="hard", twenty-fourth session: RESULTS.md §2 "The soft end")
  fsfm_settings data/models/fastsim_ww_pu50.pt data/models/fastsim_fm_ww_pu50.pt
  # a flow for each jet's Flow_1..4 given the response (FSFMConfig.substructure_response; 2026-12-06,
  # RESULTS.md §2 "Substructure jet by jet: the fix"), fitted on each model's own files with its
  # response kept; the default's response-only checkpoint is kept for fastsim-content below
  if [[ $what != fastsim-v2 ]]; then
    mkdir -p out
    cp data/models/fastsim_ww_pu50.pt out/fastsim_ww_pu50_response.pt
    add_substructure data/models/fastsim_ww_pu50.pt "${ALL[@]}"
  fi
  if [[ $what != fastsim-mixed ]]; then
    add_substructure data/models/fastsim_fm_ww_pu50.pt "${WW[@]}"
  fi
  # (not shipped, 2026-12-06: a multiplicity head that also sees the gen set's pooled features,
  # `--refit-count CKPT` — better likelihood, worse transfer; RESULTS.md §2 "The multiplicity head
  # and the gen particles")
  fsfm_settings data/models/fastsim_ww_pu50.pt data/models/fastsim_fm_ww_pu50.pt
  # the soft tail (twenty-third session): the constituents beyond the leading 50 for whole jets
  if [[ $what != fastsim-v2 ]]; then add_tail data/models/fastsim_ww_pu50.pt "${ALL[@]}"; fi
  if [[ $what != fastsim-mixed ]]; then add_tail data/models/fastsim_fm_ww_pu50.pt "${WW[@]}"; fi
fi
if [[ $what == fastsim-content || $what == all ]]; then
  # the default's particle network and multiplicity head with a jet-response flow that also sees
  # the gen jet's charged / photon / neutral-hadron pT fractions (FSFMConfig.content; 2026-12-06,
  # RESULTS.md §2 "The jet response and the jet's particle content"): five stage-2 refits of the
  # default's response, as its own (the inference settings come with the source's config; the
  # source is the default before its substructure flow, kept by fastsim-mixed above)
  mkdir -p out
  echo '{"model": {"content": true}}' > out/content.json
  hepgen train fastsim-fm --refit-response out/fastsim_ww_pu50_response.pt --config out/content.json \
    --data "${WW[@]}" "$D"/fastsim_qcd_pu50_highpt_s*.h5 "$D"/fastsim_ttbar_pu50_highpt_s*.h5 \
    --exclude-events "$DEMO" -o data/models/fastsim_content_ww_pu50.pt \
    --epochs 100 --schedule cosine --lr 3e-4 --patience 20 --batch-size 512 --members 5 -q --overwrite
  rm -f data/models/fastsim_content_ww_pu50.pt.member* data/models/fastsim_content_ww_pu50.pt.last.pt
  # then, as the default's (2026-12-06): its substructure flow
  add_substructure data/models/fastsim_content_ww_pu50.pt "${ALL[@]}"
  fsfm_settings data/models/fastsim_content_ww_pu50.pt
  add_tail data/models/fastsim_content_ww_pu50.pt "${ALL[@]}"
fi
if [[ $what == fastsim-big || $what == all ]]; then
  # the bigger fast-sim (preset gpu: hidden 128, 4 EPiC layers) trained on a GPU, stage 1 as the
  # default's with the epochs that fitted the lease (scripts/gpu/fastsim.sh: 30 epochs, 427 s on an
  # H200 beside another training; 63 s per epoch on 2 CPU cores, ~32 min), then stage 2 and the
  # default's inference settings on the CPU (stage 2 as five refits, like the default's, since
  # 2026-11-28); parameters (not buffers) stored as float16 (RESULTS.md §2 "GPU")
  mkdir -p out
  hepgen train fastsim-fm --preset gpu --data "${WW[@]}" "$D"/fastsim_qcd_pu50_highpt_s*.h5 \
    "$D"/fastsim_ttbar_pu50_highpt_s*.h5 --balance --exclude-events "$DEMO" -o out/fastsim_big_s1.pt \
    --epochs 30 --schedule cosine --lr 1e-3 --batch-size 256 --patience 1000 --overwrite
  hepgen train fastsim-fm --refit-response out/fastsim_big_s1.pt --data "${WW[@]}" \
    "$D"/fastsim_qcd_pu50_highpt_s*.h5 "$D"/fastsim_ttbar_pu50_highpt_s*.h5 --exclude-events "$DEMO" \
    -o data/models/fastsim_big_ww_pu50.pt --epochs 100 --schedule cosine --lr 3e-4 --patience 20 \
    --batch-size 512 --members 5 -q --overwrite
  # as the default's (2026-12-06): its substructure flow
  add_substructure data/models/fastsim_big_ww_pu50.pt "${ALL[@]}"
  fsfm_settings data/models/fastsim_big_ww_pu50.pt
  python - <<'PY'
import torch
from hepgen.models import registry
f = "data/models/fastsim_big_ww_pu50.pt"
c = torch.load(f, weights_only=True)
params = {n for n, _ in registry.build(c["model"], c["config"]).named_parameters()}
c["state_dict"] = {k: v.half() if k in params and v.is_floating_point() else v for k, v in c["state_dict"].items()}
torch.save(c, f)
PY
  rm -f data/models/fastsim_big_ww_pu50.pt.last.pt data/models/fastsim_big_ww_pu50.pt.member*
  add_tail data/models/fastsim_big_ww_pu50.pt "${ALL[@]}"
fi
if [[ $what == fastsim || $what == all ]]; then
  # the seed-001 VAE baseline: seed 001 architecture + loss, with hepgen's residual connection and
  # in-cone jet terms (residual-cone; RESULTS.md §2 compares it with --preset residual and seed).
  hepgen train fastsim --preset residual-cone --data "$D"/fastsim_ww_pu50_highpt_s11{1,3,4}.h5 \
    --exclude-events "$DEMO" -o data/models/fastsim_vae_ww_pu50.pt --epochs 40 --lr 5e-4 \
    --batch-size 128 --patience 12 --half --max-minutes 13 -q --overwrite
fi
if [[ $what == generator-fm || $what == all ]]; then
  # EPiC-FM on every gluon file, the teacher of the default (resumable: add --resume to continue)
  hepgen train epic-fm --preset cpu --data "$D"/gluon_r08_s2*.h5 -o data/models/epic_fm_teacher_gluon.pt \
    --epochs 300 --schedule cosine --lr 1e-3 --batch-size 256 --patience 300 --max-minutes 88 -q --overwrite
  # the shipped run was stopped by that budget after 239 epochs and continued to 300 with
  # --resume --max-minutes 120 (6 610 s in all); the same command with --max-minutes 120 does both
  # inference settings chosen after training (benchmarks/generation.py steps sweep, RESULTS.md §3):
  # 8 midpoint steps, bfloat16 velocity network on CPU, mass projection (RESULTS.md §3a, 2026-11-27)
  python - <<'PY'
import torch
c = torch.load("data/models/epic_fm_teacher_gluon.pt", weights_only=True)
c["config"].update(steps=8, bf16=True, project_mass=True)
torch.save(c, "data/models/epic_fm_teacher_gluon.pt")
PY
  # ... and (2026-11-28, fourth session) particles mirrored into the cone: FPD 2.38x -> 2.08x, W1s
  # unchanged (RESULTS.md §3a). Sampling only: the distillation pairs below are unaffected.
  python - <<'PY'
import torch
c = torch.load("data/models/epic_fm_teacher_gluon.pt", weights_only=True)
c["config"].update(contain=True)
torch.save(c, "data/models/epic_fm_teacher_gluon.pt")
PY
  # hepgen's default generator (2026-11-28), in two stages (RESULTS.md §3a). Stage 1: the teacher's
  # reflow student (rectified flow: the straight lines between 200k noise tables and the teacher's
  # 16-step endpoints), sampled with 2 midpoint steps in bf16 (docs/generators/epic_fm_reflow.json):
  # pairs ~8 min, training ~40 min alone on 2 cores; the pairs are cached in OUTPUT.pairs.pt.
  mkdir -p out
  hepgen train epic-fm --preset cpu --config docs/generators/epic_fm_reflow.json \
    --reflow data/models/epic_fm_teacher_gluon.pt --reflow-pairs 200000 --reflow-steps 16 \
    --data "$D"/gluon_r08_s2*.h5 -o out/epic_fm_line_student.pt --epochs 60 --schedule cosine \
    --lr 3e-4 --batch-size 256 --patience 60 --max-minutes 120 -q --overwrite
  # Stage 2: distillation through the solver — the 2-step solve from each noise trained onto the
  # teacher's endpoint (--reflow-loss endpoint), from the stage-1 student, on its cached pairs:
  # ~3.5 min per epoch on 2 cores.
  hepgen train epic-fm --preset cpu --config docs/generators/epic_fm_reflow.json \
    --reflow data/models/epic_fm_teacher_gluon.pt --reflow-pairs 200000 --reflow-steps 16 \
    --reflow-loss endpoint --reflow-init out/epic_fm_line_student.pt \
    --data "$D"/gluon_r08_s2*.h5 -o out/epic_fm_endpoint200k.pt --epochs 15 --schedule cosine \
    --lr 1e-4 --batch-size 256 --patience 15 --max-minutes 120 -q --overwrite
  rm -f out/epic_fm_line_student.pt.pairs.pt
  # Stages 2b–2d (2026-11-28, second session; RESULTS.md §3a): 600k pairs (the first 200k are
  # stage 1's: same seed), ~18 min to draw, ~6.5 min per endpoint epoch. 2b: plain endpoint loss;
  # 2c: the same with a weight EMA (stopped after 3 of its 7 epochs); 2d: each particle's error
  # weighted by its pT share (--reflow-loss endpoint-pt), the shipped default.
  common=(--preset cpu --config docs/generators/epic_fm_reflow.json --reflow data/models/epic_fm_teacher_gluon.pt
    --reflow-pairs 600000 --reflow-steps 16 --data "$D"/gluon_r08_s2*.h5 --schedule cosine --batch-size 256 -q)
  hepgen train epic-fm "${common[@]}" --reflow-loss endpoint --reflow-init out/epic_fm_endpoint200k.pt \
    -o out/epic_fm_endpoint600k.pt --epochs 5 --lr 1e-4 --patience 5 --max-minutes 110 --overwrite
  ln -f out/epic_fm_endpoint600k.pt.pairs.pt out/epic_fm_endpoint600k_ema.pt.pairs.pt
  hepgen train epic-fm "${common[@]}" --reflow-loss endpoint --reflow-init out/epic_fm_endpoint600k.pt \
    -o out/epic_fm_endpoint600k_ema.pt --epochs 7 --lr 7e-5 --ema 0.999 --patience 7 --max-minutes 60 --overwrite &
  sleep 1; while [[ ! -e out/epic_fm_endpoint600k_ema.pt.last.pt ]] || (( $(python -c "import torch; print(len(torch.load('out/epic_fm_endpoint600k_ema.pt.last.pt', weights_only=False)['record']['history']))") < 3 )); do sleep 30; done
  kill %1 || true
  hepgen train epic-fm "${common[@]}" --reflow-loss endpoint-pt --reflow-init out/epic_fm_endpoint600k_ema.pt \
    -o data/models/epic_fm_gluon.pt --epochs 4 --lr 7e-5 --ema 0.999 --patience 4 --max-minutes 40 --overwrite
  # ... resumed: cosine over 7 epochs from epoch 5; the 40-minute budget (whole run) stopped it after epoch 6
  hepgen train epic-fm "${common[@]}" --reflow-loss endpoint-pt --reflow-init out/epic_fm_endpoint600k_ema.pt \
    -o data/models/epic_fm_gluon.pt --epochs 7 --lr 7e-5 --ema 0.999 --patience 7 --max-minutes 40 --resume
  rm -f out/epic_fm_endpoint600k*.pairs.pt
  # inference setting added after training (2026-11-28, third session; RESULTS.md §3a): the jet
  # axis moved onto the drawn (or requested) η, φ — FPD unchanged (2.62×), ~1 µs/jet
  python - <<'PY'
import torch
c = torch.load("data/models/epic_fm_gluon.pt", weights_only=True)
c["config"].update(center=True)
torch.save(c, "data/models/epic_fm_gluon.pt")
PY
  # ... and (2026-11-28, fourth session) every particle mirrored into the jet's cone (contain): a
  # rare generated particle at ΔR > R sent single jets' EFPs to 50–150 standard deviations and FPD
  # with them — FPD 2.62× → 2.30× (RESULTS.md §3a)
  python - <<'PY'
import torch
c = torch.load("data/models/epic_fm_gluon.pt", weights_only=True)
c["config"].update(contain=True)
torch.save(c, "data/models/epic_fm_gluon.pt")
PY
fi
if [[ $what == generators || $what == all ]]; then
  # seed 000's three generators on every gluon file, in the jet-polar frame ((η_rel, φ_rel, pT);
  # the cartesian jet frame let the decoders make the jet mass with one soft particle pointing
  # backwards) with σ-scaled jet terms (issue 12, RESULTS.md §3b-c); configs in docs/seed000/configs/
  # (convae.json and nf.json: the exports of scripts/tune_study.sh D jet, tuned in the cartesian jet
  # frame, with "frame" set to "jet_polar"; convae_nf.json is the export of `scripts/tune_study.sh D cnf`
  # (jet-polar loss study on the Table-5 network, then architecture; the flow: 30 epochs of its own)
  G=("$D"/gluon_r08_s2*.h5)
  C=docs/seed000/configs
  hepgen train convae-nf --preset cpu --config $C/convae_nf.json --data "${G[@]}" -o data/models/convae_nf_gluon.pt \
    --epochs 150 --schedule cosine --batch-size 128 --patience 150 --max-minutes 60 --seed 2 -q --overwrite
  # float16 weights for the ConVAE+NF (tuned network: 4.6 M parameters, 19 → 9.6 MB; RESULTS.md §3b)
  half_weights data/models/convae_nf_gluon.pt
  # the same two-step ConVAE+NF with a one-to-one (Hungarian) reconstruction loss instead of the
  # seed's Chamfer (RESULTS.md §3b-c cause 6); shipped 2026-11-28 beside the seed's model. The
  # shipped file's step 1 ran as its own `hepgen train convae` (same settings, 80 epochs, 1 141 s)
  # and its flow with this command and --resume (1 147 s); this one command does both.
  hepgen train convae-nf --preset cpu --config $C/convae_nf_hungarian.json --data "${G[@]}" \
    -o data/models/convae_nf_hungarian_gluon.pt --epochs 80 --schedule cosine --batch-size 128 \
    --patience 80 --max-minutes 60 --seed 2 -q --overwrite
  half_weights data/models/convae_nf_hungarian_gluon.pt
  # inference setting (2026-11-28, afternoon): every slot a particle of ≥ 0.26 GeV instead of a
  # decoded pT ≤ 0 dropping it (its per-slot pT spread is wider than the softest particles;
  # hepgen.data.postprocess.to_cartesian(min_pt=...); RESULTS.md §3b)
  python - <<'PY'
import torch
c = torch.load("data/models/convae_nf_hungarian_gluon.pt", weights_only=True)
c["postprocess"] = {"min_pt": 0.26}
torch.save(c, "data/models/convae_nf_hungarian_gluon.pt")
PY
  # the ConVAE baseline re-tuned in the jet-polar frame (2026-11-28; scripts/tune_study.sh D polar,
  # its export with lr 3e-3: the exported 7.9e-3 diverged; 327 s)
  hepgen train convae --preset cpu --config $C/convae_polar.json --data "${G[@]}" -o data/models/convae_gluon.pt \
    --epochs 40 --schedule cosine --batch-size 128 --patience 40 --max-minutes 25 -q --overwrite
  hepgen train nf --preset cpu --config $C/nf.json --data "${G[@]}" -o data/models/nf_gluon.pt \
    --epochs 25 --schedule cosine --batch-size 128 --patience 25 --max-minutes 25 -q --overwrite
  # seed 004 (unchanged checkpoint, four files)
  G4=("$D"/gluon_r08_s20{1,2,3,5}.h5)
  hepgen train mcflow --preset cpu --data "${G4[@]}" -o data/models/mcflow_gluon.pt \
    --epochs 300 --batch-size 100 --patience 10 --max-minutes 5 -q --overwrite
fi
if [[ $what == seed003 || $what == all ]]; then
  # seed 003's MSE vs Chamfer VAEs (100 particles); not shipped (report only: docs/seed003/)
  G=("$D"/gluon_r08_s20{1,2,3,5}.h5)
  hepgen train vae-mse --data "${G[@]}" -o out/vae_mse_gluon.pt --epochs 300 --batch-size 100 --patience 10 --max-minutes 3 -q --overwrite
  hepgen train vae-chamfer --data "${G[@]}" -o out/vae_chamfer_gluon.pt --epochs 300 --batch-size 100 --patience 10 --max-minutes 3 -q --overwrite
  python scripts/seed003_report.py --mse out/vae_mse_gluon.pt --chamfer out/vae_chamfer_gluon.pt \
    --reference "${G[@]}" -o docs/seed003
fi
