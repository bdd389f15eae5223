"""A fast-sim v2 checkpoint with the particle network and multiplicity head of one checkpoint and
the jet-response flow (a single flow or an ensemble), substructure flow, soft tail and inference
settings of another, so two particle networks can be compared with the same response (RESULTS.md
§2, "Substructure jet by jet"; "The soft end, halved"):

    python scripts/swap_particle_network.py NEW_STAGE1.pt fastsim_ww_pu50 -o OUT.pt

Both must have been trained on the same data and split (their gen-condition and response
normalisations must agree: checked), and their networks must have the same shapes apart from the
response.
"""

from __future__ import annotations

import argparse

import torch

# what comes from the response checkpoint: its response flow(s), its substructure flow and that
# flow's standardisation
RESPONSE_PREFIXES = ("response", "substructure", "sub_mean", "sub_std")
SHARED_BUFFERS = ("cond_mean", "cond_std", "jet_mean", "jet_std")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("particles", help="checkpoint whose particle network and multiplicity head are kept")
    p.add_argument("response", help="checkpoint (or shipped name) whose response flow and inference settings are kept")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()

    from hepgen import shipped
    from hepgen.models import registry
    from hepgen.models.fastsim_fm import INFERENCE_FIELDS

    def load(path: str) -> dict:
        try:
            return torch.load(path, weights_only=True)
        except FileNotFoundError:
            return torch.load(shipped.checkpoint(path), weights_only=True)

    part, resp = load(a.particles), load(a.response)
    for name in SHARED_BUFFERS:
        if not torch.allclose(part["state_dict"][name].float(), resp["state_dict"][name].float(), rtol=1e-4, atol=1e-6):
            raise SystemExit(f"{name} differs: the two were not trained on the same data and split")
    config = dict(part["config"])
    config["response_members"] = resp["config"].get("response_members", 1)
    for key in ("flow_transforms", "flow_hidden", "content", "substructure_response", *INFERENCE_FIELDS):
        if key in resp["config"]:
            config[key] = resp["config"][key]
    state = {k: v for k, v in part["state_dict"].items() if not k.startswith(RESPONSE_PREFIXES)}
    state.update({k: v for k, v in resp["state_dict"].items() if k.startswith(RESPONSE_PREFIXES)})
    model = registry.build("fastsim_fm", config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    out = dict(part)
    out["config"], out["state_dict"] = config, model.state_dict()
    if "tail" in resp:  # the soft tail is learnt from the data alone (hepgen.train.tail.fit_tail)
        out["tail"] = resp["tail"]
    if "member_histories" in resp:
        out["member_histories"] = resp["member_histories"]
    out["training"] = {
        "stage": "particle network swapped",
        "particles": part.get("training"),
        "response": f"{a.response}: {resp.get('training', {}).get('stage', '?')}",
        "command": f"python scripts/swap_particle_network.py {a.particles} {a.response} -o {a.output}",
    }
    torch.save(out, a.output)
    print(f"wrote {a.output}: particle network of {a.particles}, response and inference settings of {a.response}")


if __name__ == "__main__":
    main()
