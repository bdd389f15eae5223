"""One fast-sim v2 checkpoint whose jet response is the uniform mixture of several response
refits' flows of the same model (``hepgen.train.fastsim_fm.stack_response_flows``; RESULTS.md §2
"an ensemble of refits"). ``hepgen train fastsim-fm --refit-response SRC --members K`` trains the
members and stacks them in one go; this script stacks refits made separately (``--seed j``).

    python scripts/stack_response_flows.py OUTPUT MEMBER MEMBER [MEMBER …]
"""

import sys

from hepgen.train.fastsim_fm import stack_response_flows

if len(sys.argv) < 4:
    sys.exit(__doc__)
record = stack_response_flows(sys.argv[2:], sys.argv[1])
nll = ", ".join(f"{m.get('best_metric', float('nan')):.4f}" for m in record["members"])
print(f"{sys.argv[1]}: {len(record['members'])} response flows (validation NLL {nll})")
