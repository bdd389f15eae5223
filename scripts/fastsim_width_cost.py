"""CPU cost of fast-sim v2 (FSFM) particle networks of other widths and depths (RESULTS.md §2,
"Width or depth"): the default checkpoint's trained parts (response flow, multiplicity head,
normalisation) loaded where the shapes match, the particle network at random init — its cost
does not depend on its weights. µs per jet on 10⁴ real gen jets, 512 per call, best of 2.

    python scripts/fastsim_width_cost.py [HIDDEN×LAYERS ...]   (default: 64x3 64x4 80x3 80x4 128x4)
"""

import sys
from typing import Any

sys.path.insert(0, "benchmarks")
from fastsim import best_of, real_gen  # noqa: E402

from hepgen.inference import Runner  # noqa: E402
from hepgen.models import registry  # noqa: E402

shapes = [tuple(int(v) for v in a.split("x")) for a in (sys.argv[1:] or ["64x3", "64x4", "80x3", "80x4", "128x4"])]
runner = Runner("fastsim_ww_pu50", device="cpu")
trained = runner.model.state_dict()
x = real_gen(runner.k)
for hidden, layers in shapes:
    model: Any = registry.build("fastsim_fm", dict(runner.config, hidden=hidden, layers=layers))
    own = model.state_dict()
    model.load_state_dict({k: trained[k] if k in trained and trained[k].shape == v.shape else v for k, v in own.items()})
    runner._model = model.eval()
    runner.simulate(x[:512])  # warm up
    t = best_of(lambda: runner.simulate(x), 2)
    n_par = sum(p.numel() for p in model.velocity.parameters())
    print(f"{hidden:4d} wide x {layers} layers: velocity network {n_par:7d} parameters, "
          f"{t / len(x) * 1e6:6.0f} us/jet", flush=True)
