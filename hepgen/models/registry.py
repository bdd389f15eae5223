"""The one place that maps a model name (as stored in checkpoints) to its class and config."""

from __future__ import annotations

from typing import Any

from torch import nn

from hepgen.models.convae import ConVAE, ConVAEConfig, ConVAENF, ConVAENFConfig
from hepgen.models.fastsim_vae import FastSimVAE, FastSimVAEConfig
from hepgen.models.flows import NF, MCFlow, MCFlowConfig, NFConfig

MODELS: dict[str, tuple[type[nn.Module], Any, str]] = {
    # name: (model class, config class, kind)
    "fastsim_vae": (FastSimVAE, FastSimVAEConfig, "fastsim"),
    "convae": (ConVAE, ConVAEConfig, "generator"),
    "convae_nf": (ConVAENF, ConVAENFConfig, "generator"),
    "nf": (NF, NFConfig, "generator"),
    "mcflow": (MCFlow, MCFlowConfig, "generator"),
}


def build(name: str, config: dict | None = None) -> nn.Module:
    """Instantiate model ``name`` from a config dict (defaults when None)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    cls, cfg_cls, _ = MODELS[name]
    return cls(cfg_cls.from_dict(config) if config else cfg_cls())


def kind(name: str) -> str:
    """'fastsim' (gen table → reco table) or 'generator' (noise → table)."""
    return MODELS[name][2]
