"""A reduced copy of a jet-pair file for a device that gets the repository only (≤ 64 MiB):
the leading K constituents of each side, the same events (so the same split by event), gzip 9.

    python scripts/gpu/reduce.py SRC DST K ZERO_GEN

ZERO_GEN = 1 zeroes the gen side (generators read the reco side only): 17.5 → 3.6 MB per gluon file.
"""

import os
import sys

import h5py
import numpy as np

src, dst, k, zero_gen = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
opts = {"compression": "gzip", "compression_opts": 9, "shuffle": True}
with h5py.File(src) as f, h5py.File(dst, "w") as g:
    for key, v in f.attrs.items():
        g.attrs[key] = v
    for name in ["event_number", "match_dr", "source_file"]:
        g.create_dataset(name, data=f[name][:], **opts)
    for side in ["gen", "reco"]:
        c = f[side]["constituents"][:, :k]
        p = f[side]["pid"][:, :k]
        if zero_gen and side == "gen":
            c, p = np.zeros_like(c), np.zeros_like(p)
        g.create_dataset(f"{side}/constituents", data=c, chunks=(1000, k, 3), **opts)
        g.create_dataset(f"{side}/pid", data=p, **opts)
        g.create_dataset(f"{side}/jet", data=f[side]["jet"][:], **opts)
print(dst, os.path.getsize(dst))
