"""The one registry of hepgen's models: checkpoint name → (class, config, kind), and the CLI
names with their presets (each preset is a config classmethod beside its model).

Example::

    >>> from hepgen.models import registry
    >>> name, cfg = registry.config_for("mcflow", "cpu")
    >>> model = registry.build(name, cfg.to_dict())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from hepgen.errors import HepgenInputError
from hepgen.models.convae import ConVAE, ConVAEConfig, ConVAENF, ConVAENFConfig
from hepgen.models.epic_fm import EPiCFM, EPiCFMConfig
from hepgen.models.fastsim_fm import FSFM, FSFMConfig
from hepgen.models.fastsim_vae import FastSimVAE, FastSimVAEConfig
from hepgen.models.flows import NF, MCFlow, MCFlowConfig, NFConfig

__all__ = ["CLI", "MODELS", "CLIModel", "build", "config_for", "kind"]

MODELS: dict[str, tuple[type[nn.Module], Any, str]] = {
    # checkpoint name: (model class, config class, kind)
    "fastsim_vae": (FastSimVAE, FastSimVAEConfig, "fastsim"),
    "fastsim_fm": (FSFM, FSFMConfig, "fastsim"),
    "convae": (ConVAE, ConVAEConfig, "generator"),
    "convae_nf": (ConVAENF, ConVAENFConfig, "generator"),
    "nf": (NF, NFConfig, "generator"),
    "mcflow": (MCFlow, MCFlowConfig, "generator"),
    "epic_fm": (EPiCFM, EPiCFMConfig, "generator"),
}


@dataclass(frozen=True)
class CLIModel:
    """A model as the CLI names it: its checkpoint name, presets (first = default) and help."""

    name: str
    presets: dict[str, Callable[[], Any]] = field(default_factory=dict)
    help: str = ""
    tunable: bool = False

    @property
    def kind(self) -> str:
        return MODELS[self.name][2]


CLI: dict[str, CLIModel] = {
    "epic-fm": CLIModel(
        "epic_fm",
        {"cpu": EPiCFMConfig.cpu, "epic": EPiCFMConfig.epic, "small": EPiCFMConfig.small},
        "set-based flow-matching jet generator (EPiC-FM), hepgen's default generator",
    ),
    "fastsim": CLIModel(
        "fastsim_vae",
        {
            "seed": FastSimVAEConfig.seed,
            "residual": FastSimVAEConfig.residual_preset,
            "residual-cone": FastSimVAEConfig.residual_cone_preset,
        },
        "detector-response VAE (seed 001)",
        tunable=True,
    ),
    "fastsim-fm": CLIModel(
        "fastsim_fm",
        {"cpu": FSFMConfig.cpu, "gpu": FSFMConfig.gpu, "small": FSFMConfig.small},
        "fast-sim v2: set-based flow matching with a multiplicity head and a response flow",
    ),
    "convae": CLIModel(
        "convae",
        {
            "table4": ConVAEConfig.table4,
            "table5": ConVAEConfig.table5,
            "table1": ConVAEConfig.table1,
            "cpu": ConVAEConfig.cpu,
        },
        "ConVAE (seed 000)",
        tunable=True,
    ),
    "convae-nf": CLIModel(
        "convae_nf",
        {"table5+table6": ConVAENFConfig.table5_table6, "cpu": ConVAENFConfig.cpu},
        "ConVAE + RealNVP latent flow, two-step (seed 000)",
        tunable=True,
    ),
    "nf": CLIModel(
        "nf", {"table7": NFConfig.table7, "cpu": NFConfig.cpu}, "RealNVP baseline (seed 000)",
        tunable=True,
    ),
    "vae-mse": CLIModel(
        "convae", {"seed003": lambda: ConVAEConfig.seed003("mse")}, "MSE VAE (seed 003)"
    ),
    "vae-chamfer": CLIModel(
        "convae", {"seed003": lambda: ConVAEConfig.seed003("chamfer")}, "Chamfer VAE (seed 003)"
    ),
    "mcflow": CLIModel(
        "mcflow",
        {"seed004": MCFlowConfig.seed004, "cpu": MCFlowConfig.cpu},
        "mass/multiplicity-conditioned spline flow (seed 004)",
        tunable=True,
    ),
}


def merge_overrides(base: dict, overrides: dict) -> dict:
    """``overrides`` merged into ``base`` key by key (nested dicts merged, other values replaced)."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merge_overrides(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def config_for(model: str, preset: str | None = None, overrides: dict | None = None):
    """CLI model name + preset (default: the first) + overrides → (checkpoint name, config).

    Raises:
        HepgenInputError: unknown model, preset or override key.
    """
    if model not in CLI:
        raise HepgenInputError(f"unknown model {model!r}; known: {', '.join(CLI)}")
    entry = CLI[model]
    preset = preset or next(iter(entry.presets))
    if preset not in entry.presets:
        raise HepgenInputError(
            f"--preset {preset!r} is not a preset of {model}: {', '.join(entry.presets)}"
        )
    cfg = entry.presets[preset]()
    if overrides:
        cfg_cls = MODELS[entry.name][1]
        try:
            cfg = cfg_cls.from_dict(merge_overrides(cfg.to_dict(), overrides))
        except (TypeError, KeyError, ValueError) as exc:
            raise HepgenInputError(f"config overrides for {model} do not fit its config: {exc}") from exc
    return entry.name, cfg


def build(name: str, config: dict | None = None) -> nn.Module:
    """Instantiate model ``name`` from a config dict (defaults when None)."""
    if name not in MODELS:
        raise HepgenInputError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    cls, cfg_cls, _ = MODELS[name]
    try:
        return cls(cfg_cls.from_dict(config) if config else cfg_cls())
    except (TypeError, KeyError, ValueError) as exc:
        raise HepgenInputError(f"model {name!r}: config does not fit ({exc})") from exc


def kind(name: str) -> str:
    """'fastsim' (gen table → reco table) or 'generator' (noise → table)."""
    if name not in MODELS:
        raise HepgenInputError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name][2]
