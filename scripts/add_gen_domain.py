"""Record the range of gen jets a fast-sim checkpoint was trained on (``dataset["gen_domain"]``,
:func:`hepgen.data.datasets.gen_domain`) in a checkpoint trained before hepgen recorded it
(2026-12-07; trainings since record it themselves). The training split is rebuilt from the
checkpoint's own record — its files in their order (the split is by event over the list), split
seed, gen- or reco-pT selection — and the script refuses when its jet count is not the recorded
one. Nothing else in the checkpoint changes: the script checks that the model's output on the
shipped demo jets is bit for bit the same.

    python scripts/add_gen_domain.py CHECKPOINT [...] --data ../shared/data \\
        --exclude-events ../shared/data/samples/expected/delphes_ww_pu50_highpt_100ev.h5
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="paths (rewritten in place)")
    p.add_argument("--data", required=True, help="the folder holding the training files")
    p.add_argument("--exclude-events", nargs="*", default=None)
    a = p.parse_args()

    from hepgen import shipped
    from hepgen.commands import _exclude
    from hepgen.data.datasets import JetPairDataset, gen_domain
    from hepgen.inference import Runner
    from hepgen.io import h5
    from hepgen.models import checkpoint
    from hepgen.train.fastsim_fm import balance_processes

    exclude = _exclude(a.exclude_events)
    demo_gen = h5.read(shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")).side("gen")
    demo, demo_pid = demo_gen.constituents, demo_gen.pid
    for path in a.checkpoints:
        ck = checkpoint.load(path)
        d = ck["dataset"]
        files = [os.path.join(a.data, f) for f in d["files"]]
        ds = JetPairDataset(
            files, split="train", k=int(d["k"]), seed=int(d.get("split_seed", 0)), exclude_events=exclude,
            gen_min_pt=d.get("gen_min_pt"), reco_min_pt=d.get("reco_min_pt"),
        )
        if d.get("processes"):  # trained with --balance: the same repeats (whole factors: no seed enters)
            if balance_processes(ds, files, 0) != d["processes"]:
                raise SystemExit(f"{path}: the rebuilt split's processes differ from its record")
        if len(ds) != int(d["n_train"]) or (exclude is not None and int(d.get("excluded_events", 0)) != len(exclude)):
            raise SystemExit(f"{path}: rebuilt {len(ds)} training jets, its record says {d['n_train']}: not its split")
        runner = Runner(path, device="cpu")
        pid = demo_pid if runner.needs_pid else None
        before = runner.simulate(demo, seed=3, pid=pid)
        ck["dataset"] = {**d, "gen_domain": gen_domain(ds.gen_jet)}
        tmp = f"{path}.tmp"
        torch.save(ck, tmp)
        os.replace(tmp, path)
        after = Runner(path, device="cpu").simulate(demo, seed=3, pid=pid)
        if not np.array_equal(before, after):
            raise SystemExit(f"{path}: the output changed (it must not)")
        print(f"{path}: {ck['dataset']['gen_domain']}")


if __name__ == "__main__":
    main()
