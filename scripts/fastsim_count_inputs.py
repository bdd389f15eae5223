"""Which inputs does the fast-sim v2 multiplicity head need? (RESULTS.md §2, "The multiplicity
head and the gen particles")

Fits fresh heads (the shipped architecture: two hidden layers of 128, SiLU; Adam 1e-3, batch 512,
selected on the validation cross-entropy, patience 15) on a trained checkpoint's frozen gen
encoding, with four input sets — the gen jet's eight numbers (what stage 1's head sees), plus the
gen particle content (charged / photon / neutral-hadron pT fractions and the charged count), plus
the gen set's pooled features (the particle encoder's global output), plus both — and prints for
each the validation and test cross-entropy and, on the boosted-WW training jets of 200–300 and
300–400 GeV, the mean true and expected multiplicity of the gen jets whose leading particles
recluster into themselves ("stable") and of the others. The checkpoint's own head is printed first.

    python scripts/fastsim_count_inputs.py CHECKPOINT FILE [FILE ...] [--exclude-events DEMO.h5]

FILE ...: the checkpoint's training files, in its order (the split is by event over the list).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastsim_flow_medians import reclusters_to_itself  # noqa: E402

from hepgen.data.datasets import JetPairDataset  # noqa: E402
from hepgen.inference import Runner  # noqa: E402
from hepgen.physics.kinematics import CHARGED_PIDS, jet_features, particle_content  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--exclude-events", nargs="+", default=None, help="as in its training (the demo sample's)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    from hepgen.commands import _exclude

    torch.manual_seed(a.seed)
    runner = Runner(a.checkpoint, device="cpu")
    model, k = runner.model, runner.k
    split_seed = int(runner.dataset.get("split_seed", 0))
    parts = {}
    for split in ("train", "valid", "test"):
        ds = JetPairDataset(a.files, split, k=k, seed=split_seed, gen_min_pt=100.0,
                            exclude_events=_exclude(a.exclude_events))
        with torch.no_grad():
            cn, _, pool, _, gjet = model._encode_gen(ds.gen)
            n = model._reco_targets(ds.reco, gjet)[3].long()
            pid = ds.gen_pid[:, :k].long()
            content = particle_content(ds.gen[:, :k].double(), pid).float()
            charged = torch.isin(pid.abs(), torch.tensor(CHARGED_PIDS)).sum(1, keepdim=True).float() / k
            own = model.count_logits(cn, pool=pool) if model.config.count_pooled else model.count_logits(cn)
        gf = jet_features(ds.gen.numpy().astype(np.float64))
        ww = np.array(["_ww_" in os.path.basename(a.files[int(i)]) for i in ds.event_keys >> 48])
        parts[split] = dict(cn=cn, pool=pool, content=torch.cat([content, charged], -1), n=n, own=own, gf=gf, ww=ww,
                            gen=ds.gen.numpy())
    tr = parts["train"]
    stable = reclusters_to_itself(tr["gen"], tr["gf"][:, 3], model.config.R)
    ce = torch.nn.functional.cross_entropy

    def report(name: str, logits: dict[str, torch.Tensor], note: str = "") -> None:
        cells = [f"{name:26s}", f"valid CE {ce(logits['valid'], parts['valid']['n']).item():.4f}",
                 f"test CE {ce(logits['test'], parts['test']['n']).item():.4f}"]
        expect = torch.softmax(logits["train"], -1).numpy() @ np.arange(k + 1)
        n = tr["n"].numpy()
        for lo, hi in ((200, 300), (300, 400)):
            b = tr["ww"] & (tr["gf"][:, 0] >= lo) & (tr["gf"][:, 0] < hi)
            cells.append(f"WW {lo}–{hi}: stable {n[b & stable].mean():.2f} / {expect[b & stable].mean():.2f}, "
                         f"unstable {n[b & ~stable].mean():.2f} / {expect[b & ~stable].mean():.2f}")
        print(" | ".join(cells) + note)

    print(f"{a.checkpoint}: multiplicity heads on its frozen gen encoding; mean n true / expected on the training jets")
    report("the checkpoint's own head", {s: parts[s]["own"] for s in parts})
    for inputs in (("cn",), ("cn", "content"), ("cn", "pool"), ("cn", "content", "pool")):
        xs = {s: torch.cat([parts[s][i] for i in inputs], -1) for s in parts}
        mu, sd = xs["train"].mean(0), xs["train"].std(0).clamp_min(1e-3)
        xs = {s: (x - mu) / sd for s, x in xs.items()}
        head = torch.nn.Sequential(torch.nn.Linear(xs["train"].shape[1], 128), torch.nn.SiLU(),
                                   torch.nn.Linear(128, 128), torch.nn.SiLU(), torch.nn.Linear(128, k + 1))
        opt = torch.optim.Adam(head.parameters(), lr=1e-3)
        n = tr["n"]
        best, bad, state, best_epoch = float("inf"), 0, None, 0
        for epoch in range(200):
            for b in torch.randperm(len(n)).split(512):
                loss = ce(head(xs["train"][b]), n[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                v = ce(head(xs["valid"]), parts["valid"]["n"]).item()
            if v < best - 1e-5:
                best, bad, state, best_epoch = v, 0, copy.deepcopy(head.state_dict()), epoch
            else:
                bad += 1
                if bad >= 15:
                    break
        assert state is not None  # the first epoch always improves on inf
        head.load_state_dict(state)
        with torch.no_grad():
            report(" + ".join(inputs), {s: head(xs[s]) for s in parts}, f" (best epoch {best_epoch})")


if __name__ == "__main__":
    main()
