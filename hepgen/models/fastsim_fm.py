"""Fast-sim v2 (FSFM): a stochastic, set-based detector response.

Gen-level constituents of a jet (a set with a mask) → a *variable-length* set of
reconstruction-level constituents, with fresh noise per jet and per particle, in three steps:

1. **multiplicity** — a categorical head p(n_reco | gen jet) (cross-entropy; sampled from its
   softmax), so the output cardinality is drawn, not fixed by zero padding (an option,
   ``count_pooled``, also gives it the gen set's pooled features);
2. **jet response** — a conditional neural spline flow (``zuko.flows.NSF``) on
   (log pT_reco/pT_gen, log m_reco/m_gen, Δη/R, Δφ/R) given the gen jet and the sampled n;
3. **constituents** — conditional flow matching (Lipman et al. 2023, straight paths, MSE on
   the velocity) with a permutation-equivariant network (EPiC layers, Buhmann et al. 2023,
   plus cross-attention to the gen set), particles as (log pT/pT_gen, Δη/R, Δφ/R) around the
   gen jet axis, masked to the sampled n and conditioned on the jet-level sample; the number
   of ODE steps is a knob (``steps``). The constituents' pT are finally rescaled so the jet
   pT equals the sampled response (``project``): the flow owns the resolution, the set model
   the substructure;
4. **substructure** (optional, ``substructure_response``; the shipped default since 2026-12-06)
   — a second conditional flow draws the jet's momentum flows Flow_1..4 given the gen jet and the
   response drawn in step 2, and each annulus' particles are scaled to them (``project_substructure``),
   alternating with the mass projection: the particle network alone scattered each jet's Flow_n
   1.2–2.7× as far from its gen jet's as Delphes does.

Training is joint (flow-matching MSE + response NLL + multiplicity cross-entropy), then the
response flow is re-trained on its own with its own early stopping
(:func:`hepgen.train.fastsim_fm.refit_response`, ``hepgen train fastsim-fm --refit-response``):
its validation NLL bottoms out long before the flow-matching loss does. Stage 2 can fit several
flows from different seeds (``--members K``): the response is then their uniform mixture
(:class:`ResponseEnsemble`, a deep ensemble of density estimators), whose medians scatter less
from refit to refit than one flow's.

The design follows the particle-level fast-sims that draw fresh noise per particle with a
dedicated cardinality head: Parnassus (Dreyer et al., arXiv 2406.01620, 2503.19981), SCSG
(arXiv 2405.10106), CaloClouds II (a global flow for totals, then point-wise generation).

Inputs and outputs are physical cartesian tables (B, k, 3) in GeV, zero padded; the model
holds its own normalisation buffers (fitted with :meth:`FSFM.fit_normalisation`).

Example::

    >>> model = FSFM(FSFMConfig(hidden=32, layers=1, steps=2))
    >>> gen = torch.randn(4, 50, 3) * 20
    >>> reco = model.simulate(gen, generator=torch.Generator().manual_seed(0))
    >>> reco.shape
    torch.Size([4, 50, 3])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import zuko
from torch import nn

from hepgen.models.epic import EPiCLayer
from hepgen.models.epic import mlp as _mlp
from hepgen.models.epic import split_first as _split_first
from hepgen.models.epic import time_embedding as _time_embedding
from hepgen.physics.coordinates import cartesian_to_ptetaphi, ptetaphi_to_cartesian
from hepgen.physics.kinematics import jet_features, particle_classes, particle_content, wrap_phi
from hepgen.physics.projection import antikt_contain, close_mass, momentum_sums, project_jet
from hepgen.physics.substructure import N_FLOWS, momentum_flows

__all__ = [
    "FSFM", "FSFMConfig", "INFERENCE_FIELDS", "ResponseEnsemble", "count_head", "response_flow", "substructure_flow",
]

N_COND = 8  # log pT, η, log m/pT, n/k, Flow_1..4 of the gen jet
N_JET = 4  # log pT ratio, log m ratio, Δη/R, Δφ/R
N_STATE = 2  # the current set's log pT and log m over the targets (state_features)
N_CONTENT = 3  # the gen jet's charged / photon / neutral-hadron pT fractions (content)
#: the :class:`FSFMConfig` fields that act at inference only: a checkpoint's can be changed
#: without retraining (``Runner(settings=...)``, ``hepgen evaluate --set``)
INFERENCE_FIELDS = (
    "steps", "project", "project_mass", "contain", "contain_antikt", "min_pt", "mass_mode", "candidates",
    "project_axis", "project_substructure", "projection_rounds", "close_mass", "flows_mode",
)
EPS = 1e-6


@dataclass(frozen=True)
class FSFMConfig:
    """Hyperparameters of :class:`FSFM`.

    Args:
        n_particles: k, the table size (gen input and reco output).
        R: jet radius; angles are measured in units of R.
        hidden: width of the per-particle network.
        layers: EPiC layers of the velocity network.
        heads: heads of the cross-attention to the gen set (0: no cross-attention).
        time_features: sinusoidal features of the flow-matching time.
        flow_transforms, flow_hidden: the jet-response spline flow.
        response_members: how many such flows (1: one; K > 1: a :class:`ResponseEnsemble`,
            their uniform mixture, made by ``--refit-response … --members K``).
        head_hidden: the multiplicity head.
        steps: ODE steps at inference (midpoint rule: two network calls each).
        project: rescale the constituents' pT to the sampled jet response.
        project_mass: also scale the particles' angular offsets so the jet mass follows the
            sampled mass response (inference only: a checkpoint can switch it on or off).
        contain: mirror particles beyond ΔR = R from the jet axis back inside the cone, so
            that reclustering keeps them (inference only).
        min_pt: raise softer generated particles to this pT [GeV] (inference only): the training
            tables hold none below the EFlow threshold (0.25 GeV), the flow-matching output has a
            smeared edge and the acceptance would drop ~0.6 particles per jet.
        contain_antikt: after the projections, make each jet's particles anti-kt stable
            (:func:`~hepgen.physics.projection.antikt_contain`, fastjet on the CPU): particles
            that anti-kt with radius R leaves out of the set's leading jet are moved just inside
            it, then the pT is rescaled to the response again (inference only). Delphes' reco
            jets are anti-kt clusters (3 of 600 lose a particle when reclustered alone); the
            containment above is relative to the set's axis, and 27% of the boosted-WW outputs
            lost edge particles in the processor's reclustering (their mass up to 26%;
            RESULTS.md §2).
        mass_mode: how ``project_mass`` moves the particles (:func:`~hepgen.physics.projection.
            project_jet`): ``"scale"`` every angular offset by one factor, ``"radial"`` a power
            map of ΔR that keeps the cone's edge, ``"cone"`` the core scaled by one factor and
            the edge kept, ``"shell"`` core and edge kept (inference only).
        candidates: flow-matching starts per jet (inference only): each is integrated and the
            set whose mass-to-pT ratio is nearest the sampled response's is kept — sampling from
            the particle model restricted to sets of the sampled mass, approximately, so the jet
            mass follows the response flow with no (or a small) ``project_mass`` move, which
            reshapes the substructure (RESULTS.md §2); it costs K ODE solves per jet.
        project_axis: last, move each set as a whole (η shifted, φ rotated: pT, mass and the
            particles' relative positions kept, anti-kt stability too) so that its jet axis is
            the sampled response's Δη, Δφ from the gen jet (inference only). The particle
            network alone places the axis only roughly and the mass projection moves it further:
            the shipped default's axis was 1.7× further from the gen jet's than Delphes' (median
            ΔR 0.029 vs 0.017) and 0.8% of its jets were beyond R/2, where Delphes has none;
            the flow's own Δη, Δφ draws follow Delphes' (RESULTS.md §2, "Jet direction").
        source: where the flow-matching paths start. ``"noise"``: a standard normal per particle
            slot. ``"gen"``: the gen jet's particles, slot i at the i-th hardest gen particle (in
            the reco particles' normalised coordinates) plus ``source_sigma`` × that noise, pure
            noise in slots beyond the gen set — a bridge from the gen set to the reco set, so a
            reco particle starts where its gen particle mostly is (a new network: stage 1).
        source_sigma: the noise's scale around the gen particles for ``source="gen"``.
        source_pairing: which gen particle a reco particle's path starts at in training, for
            ``source="gen"``: ``"rank"`` the one of the same pT rank; ``"ot"`` its partner in the
            optimal assignment between the two sets (scipy's ``linear_sum_assignment`` on the
            normalised coordinates; reco particles left over start from noise). Inference always
            starts the paths at the gen set by pT rank (the set of start points is the same
            whenever the jet has at least as many reco as gen particles).
        state_features: give the velocity network, at every call, the jet pT and mass of the
            current set x_t relative to the targets (the data's in training, the response
            flow's draws at inference), as two log ratios in its global input: the jet mass is a
            pairwise sum over the particles, which the network's pooled means reach only
            approximately, and the particle model alone missed the drawn m/pT by ~9% per jet
            (IQR 0.17 in log; RESULTS.md §2), which the mass projection then forced (a new
            network: changes the weights' shapes).
        content: condition the jet-response flow also on the gen jet's particle content — its
            pT fractions in charged particles, photons and neutral hadrons
            (:func:`~hepgen.physics.kinematics.particle_content`), which the detector measures
            with different resolutions: the simulation then needs the gen particles' PDG ids
            (``pid``). A response-flow option, fitted in stage 2 (``--refit-response … --config
            FILE`` with ``{"model": {"content": true}}``); stage 1 refuses it.
        particle_types: give the particle network each gen particle's class (charged particle,
            photon, neutral hadron: :func:`~hepgen.physics.kinematics.particle_classes`) beside
            its momentum, and the multiplicity head the gen jet's particle content: Delphes
            keeps a charged particle as one track but merges photons and neutral hadrons into
            calorimeter towers, which a network that sees momenta only must guess (Parnassus
            feeds the particle type as well). A new network (stage 1); the simulation then
            needs the gen particles' PDG ids (``pid``).
        substructure_response: a second conditional flow draws each jet's momentum flows,
            Flow_1..4 (reco − gen, :func:`~hepgen.physics.substructure.momentum_flows`), given
            the response flow's context and its draw (pT, mass, direction): p(response) ·
            p(substructure | response), so the response flow and its draws stay as they were.
            The particle network places each jet's particles only roughly where Delphes puts
            them — its Flow_n moved 1.2–2.7× as far from the gen jet's as Delphes' do, jet by
            jet, while the marginals matched (RESULTS.md §2, "Substructure jet by jet") — and a
            conditional density of four numbers is what a flow learns well (the mass response's
            IQR is right). Fitted after the response (``--refit-response … --config FILE`` with
            ``{"model": {"substructure_response": true}}`` on a checkpoint without it); stage 1
            refuses it.
        count_pooled: give the multiplicity head, beside the gen jet's eight numbers, the gen
            set's pooled features (the particle encoder's global output, ``hidden`` numbers,
            standardised): from the jet numbers alone the head's p(n | gen jet) misses what the
            particles say — on boosted-WW training jets of 200–300 GeV it draws 0.5 particles too
            few for gen jets whose leading particles recluster into themselves and 0.6 too many
            for the others, where Delphes' multiplicities differ by 0.1, and the mass response,
            conditioned on n, moves with it (RESULTS.md §2, "The multiplicity head and the gen
            particles"). Fitted on a
            trained model with ``hepgen train fastsim-fm --refit-count CKPT`` (the head alone,
            encoder frozen); a stage 1 with it trains the encoder through the head too. Not in
            the shipped checkpoints: it transfers worse to a process the model never saw (the
            WW-only model's multiplicity on QCD: 1.16 → 1.49× the floor).
        project_substructure: scale each annulus' particles to the drawn Flow_1..4, alternating
            with the mass projection (:func:`~hepgen.physics.projection.project_jet`'s
            ``target_flows``; inference only, needs ``substructure_response``): the CaloFlow
            split (arXiv 2106.05285) of a flow for the layer energies and a shower normalised to
            them, with the annuli as the layers.
        projection_rounds: rounds of the projections (pT, mass, containment and, with
            ``project_substructure``, the annuli; inference only). Four reach the mass; the
            annuli and the mass, moved in turn, need more (RESULTS.md §2).
        close_mass: end the projections with one more mass projection of the sets the annuli
            and ``contain_antikt`` left more than 0.2% off the drawn mass (kept only where the set
            stays anti-kt stable; :func:`~hepgen.physics.projection.close_mass`, inference
            only).
        flows_mode: how ``project_substructure`` brings an annulus to its drawn Flow_n
            (:func:`~hepgen.physics.projection.project_jet`'s ``flows_mode``; inference only):
            ``"scale"`` all its particles by one factor, ``"hard"`` mostly its hard ones, so that
            its soft ones keep more of their pT (RESULTS.md §2, "The soft end, halved").
        learning_rate: Adam's.
    """

    n_particles: int = 50
    R: float = 0.5
    hidden: int = 64
    layers: int = 3
    heads: int = 4
    time_features: int = 16
    flow_transforms: int = 6
    flow_hidden: tuple[int, ...] = (128, 128)
    head_hidden: tuple[int, ...] = (128, 128)
    response_members: int = 1
    steps: int = 6
    project: bool = True
    project_mass: bool = False
    contain: bool = False
    contain_antikt: bool = False
    min_pt: float = 0.0
    mass_mode: str = "scale"
    candidates: int = 1
    project_axis: bool = False
    source: str = "noise"
    source_sigma: float = 0.5
    source_pairing: str = "rank"
    state_features: bool = False
    content: bool = False
    particle_types: bool = False
    substructure_response: bool = False
    count_pooled: bool = False
    project_substructure: bool = False
    projection_rounds: int = 4
    close_mass: bool = False
    flows_mode: str = "scale"
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        from hepgen.physics.projection import FLOWS_MODES, MASS_MODES

        if self.mass_mode not in MASS_MODES:
            raise ValueError(f"mass_mode must be one of {MASS_MODES}, got {self.mass_mode!r}")
        if self.flows_mode not in FLOWS_MODES:
            raise ValueError(f"flows_mode must be one of {FLOWS_MODES}, got {self.flows_mode!r}")
        if self.min_pt < 0:
            raise ValueError(f"min_pt must be ≥ 0, got {self.min_pt}")
        if self.response_members < 1:
            raise ValueError(f"response_members must be ≥ 1, got {self.response_members}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be ≥ 1, got {self.candidates}")
        if self.source not in ("noise", "gen"):
            raise ValueError(f"source must be 'noise' or 'gen', got {self.source!r}")
        if not self.source_sigma > 0:
            raise ValueError(f"source_sigma must be > 0, got {self.source_sigma}")
        if self.source_pairing not in ("rank", "ot"):
            raise ValueError(f"source_pairing must be 'rank' or 'ot', got {self.source_pairing!r}")
        if self.project_substructure and not self.substructure_response:
            raise ValueError("project_substructure needs the flow that draws the momentum flows "
                             "(substructure_response)")
        if self.projection_rounds < 1:
            raise ValueError(f"projection_rounds must be ≥ 1, got {self.projection_rounds}")

    @classmethod
    def cpu(cls) -> FSFMConfig:
        """The shipped preset: trains in under an hour on 2 CPU cores."""
        return cls()

    @classmethod
    def gpu(cls) -> FSFMConfig:
        """A wider, deeper particle network (128 wide, 4 EPiC layers) for a GPU: stage 1 in 7
        minutes on an H200 (30 epochs), better Flow_3/Flow_4 than :meth:`cpu`, but 1.5–2.0 ms per jet on
        2 CPU cores — over the CPU budget (the shipped ``fastsim_big_ww_pu50``, RESULTS.md §2)."""
        return cls(hidden=128, layers=4)

    @classmethod
    def small(cls) -> FSFMConfig:
        """A tiny network for tests and quick looks."""
        return cls(hidden=16, layers=1, heads=2, flow_transforms=2, flow_hidden=(32,),
                   head_hidden=(32,), steps=2)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FSFMConfig:
        d = dict(d)
        for key in ("flow_hidden", "head_hidden"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _spline_flow(config: FSFMConfig, features: int, extra_context: int = 0) -> zuko.flows.NSF:
    """A fresh conditional spline flow of the config's architecture on ``features`` dimensions,
    given the response context (gen condition, n/k and, with ``content``, the particle content)
    and ``extra_context`` further columns."""
    context = N_COND + 1 + (N_CONTENT if config.content else 0) + extra_context
    return zuko.flows.NSF(
        features, context, transforms=config.flow_transforms, hidden_features=config.flow_hidden,
        passes=2,
    )  # passes=2: coupling layers, one pass to sample


def count_head(config: FSFMConfig) -> nn.Sequential:
    """A fresh multiplicity head: logits (k + 1) of the reco multiplicity given the normalised gen
    condition (and, with ``particle_types``, the particle content; with ``count_pooled``, the gen
    set's pooled features)."""
    inputs = N_COND + (N_CONTENT if config.particle_types else 0) + (config.hidden if config.count_pooled else 0)
    return _mlp([inputs, *config.head_hidden, config.n_particles + 1])


def response_flow(config: FSFMConfig) -> zuko.flows.NSF:
    """A fresh jet-response flow: p(log pT ratio, log m ratio, Δη/R, Δφ/R | gen jet, n)."""
    return _spline_flow(config, N_JET)


def substructure_flow(config: FSFMConfig) -> zuko.flows.NSF:
    """A fresh substructure flow (:attr:`FSFMConfig.substructure_response`): p(Flow_1..4 reco −
    gen | the response flow's context, its normalised draw), the response flow's architecture."""
    return _spline_flow(config, N_FLOWS, extra_context=N_JET)


class ResponseEnsemble(nn.Module):
    """A uniform mixture of K conditional jet-response flows (a deep ensemble of density
    estimators; Lakshminarayanan et al., arXiv 1612.01474).

    Flows refitted from different seeds agree in likelihood but their conditional medians scatter
    by ±0.005 from fit to fit (RESULTS.md §2); the mixture averages that scatter while each jet is
    still drawn from one flow: a uniform picks the member, the flow maps the shared base noise.

    Args:
        flows: K flows ``f(context) → distribution`` of the same event and context sizes.

    Example::

        >>> ens = ResponseEnsemble([response_flow(FSFMConfig.small()) for _ in range(3)])
        >>> ctx, z, u = torch.randn(5, 9), torch.randn(5, 4), torch.rand(5, 1)
        >>> ens.sample(ctx, z, u).shape, ens.log_prob(ctx, torch.randn(5, 4)).shape
        (torch.Size([5, 4]), torch.Size([5]))
    """

    def __init__(self, flows: Sequence[nn.Module]) -> None:
        super().__init__()
        if not flows:
            raise ValueError("a ResponseEnsemble needs at least one flow")
        self.flows = nn.ModuleList(flows)

    def log_prob(self, context: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(y | context) of the mixture, (B,)."""
        lp = torch.stack([f(context).log_prob(y) for f in self.flows])
        return torch.logsumexp(lp, 0) - math.log(len(self.flows))

    def sample(self, context: torch.Tensor, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Samples (B, d) from base noise ``z`` (B, d); the uniform ``u`` (B, 1) picks each jet's flow."""
        k = len(self.flows)
        member = (u.reshape(-1) * k).long().clamp(0, k - 1)
        out = torch.empty_like(z)
        for j, f in enumerate(self.flows):
            idx = (member == j).nonzero(as_tuple=True)[0]
            if len(idx):
                out[idx] = f(context[idx]).transform.inv(z[idx])
        return out


class Velocity(nn.Module):
    """v(x_t, t | context, gen set): EPiC layers with cross-attention to the gen particles."""

    def __init__(self, c: FSFMConfig) -> None:
        super().__init__()
        d, dg = c.hidden, c.hidden
        self.c = c
        self.embed = _mlp([3 + c.time_features, d, d])
        n_state = N_STATE if c.state_features else 0
        self.glob0 = _mlp([N_COND + N_JET + 1 + n_state + c.time_features + d, dg, dg])
        self.layers = nn.ModuleList(EPiCLayer(d, dg) for _ in range(c.layers))
        self.attn = nn.MultiheadAttention(d, c.heads, batch_first=True) if c.heads else None
        self.attn_norm = nn.LayerNorm(d)
        self.out = _mlp([d, d, 3])

    def gen_keys(self, gen_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The attention's keys and values (B, heads, k_gen, d/heads) of the encoded gen set:
        they do not depend on x or t, so an ODE solve computes them once for all its steps."""
        if self.attn is None:
            return None
        B, kg, d = gen_h.shape
        H = self.attn.num_heads
        kv = nn.functional.linear(gen_h, self.attn.in_proj_weight[d:], self.attn.in_proj_bias[d:])
        kv = kv.view(B, kg, 2, H, d // H)
        return kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)

    def _attend(self, h: torch.Tensor, keys: tuple[torch.Tensor, torch.Tensor], gen_mask: torch.Tensor):
        """``self.attn`` (``nn.MultiheadAttention``, its weights) written out: the same values to
        float rounding, ~2× faster on the CPU at these sizes (a few dozen particles per set: the
        module's fused kernel and its transposes cost more than the products), and the keys
        come precomputed (:meth:`gen_keys`)."""
        attn = self.attn
        if attn is None:
            raise RuntimeError("this velocity network has no cross-attention (config.heads = 0)")
        B, kq, d = h.shape
        H = attn.num_heads
        q = nn.functional.linear(h, attn.in_proj_weight[:d], attn.in_proj_bias[:d])
        q = q.view(B, kq, H, d // H).transpose(1, 2)
        k, v = keys
        s = (q @ k.transpose(-1, -2)) * (d // H) ** -0.5
        s = s.masked_fill(~gen_mask[:, None, None, :], float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, kq, d)
        return attn.out_proj(a)

    def forward(self, x, t, context, gen_h, gen_pool, gen_mask, mask, keys=None, state=None):
        """Velocity (B, k, 3) at x (B, k, 3), time t (B,). With ``keys`` (:meth:`gen_keys` of
        ``gen_h``, precomputed) the attention runs written out (:meth:`_attend`), else through
        ``nn.MultiheadAttention``: the same function to float rounding. ``state`` (B, 2): the
        state features of x (``state_features``; :meth:`FSFM._state`)."""
        if self.c.state_features:
            if state is None:
                raise ValueError("this velocity network takes the state features of x")
            context = torch.cat([context, state], -1)
        te = _time_embedding(t, self.c.time_features)
        h = _split_first(self.embed, x, te)
        g = self.glob0(torch.cat([context, te, gen_pool], -1))
        half = len(self.layers) // 2
        for i, layer in enumerate(self.layers):
            if i == half and self.attn is not None:
                q = self.attn_norm(h)
                if keys is None:  # training: the module (its fused kernel saves memory there)
                    a, _ = self.attn(q, gen_h, gen_h, key_padding_mask=~gen_mask, need_weights=False)
                else:
                    a = self._attend(q, keys, gen_mask)
                h = h + a * mask.unsqueeze(-1)
            h, g = layer(h, g, mask)
        return self.out(h) * mask.unsqueeze(-1)


class FSFM(nn.Module):
    """Fast-sim flow matching: gen set → variable-length reco set (see the module docstring)."""

    physical_io = True  # takes and returns GeV tables; normalisation lives in its buffers
    # the gen condition's standardisation buffers, used directly (the others, by name: :meth:`_norm`)
    cond_mean: torch.Tensor
    cond_std: torch.Tensor

    def __init__(self, config: FSFMConfig = FSFMConfig()) -> None:
        super().__init__()
        self.config = c = config
        for name, n in (("cond", N_COND), ("jet", N_JET), ("part", 3), ("gpart", 3)) + (
            (("content", N_CONTENT),) if self.needs_pid else ()
        ):
            self.register_buffer(f"{name}_mean", torch.zeros(n))
            self.register_buffer(f"{name}_std", torch.ones(n))
        types = N_CONTENT if c.particle_types else 0
        if c.count_pooled:  # the pooled gen-set features' standardisation (set by the head's refit)
            self.register_buffer("pool_mean", torch.zeros(c.hidden))
            self.register_buffer("pool_std", torch.ones(c.hidden))
        self.count_head = count_head(c)
        self.response: nn.Module = (
            response_flow(c) if c.response_members == 1
            else ResponseEnsemble([response_flow(c) for _ in range(c.response_members)])
        )
        d = c.hidden
        self.gen_embed = _mlp([3 + types + N_COND, d, d])
        self.gen_layer = EPiCLayer(d, d)
        self.gen_glob = _mlp([N_COND, d])
        self.velocity = Velocity(c)
        if c.substructure_response:
            self.add_substructure()

    @property
    def needs_pid(self) -> bool:
        """Whether the model takes the gen particles' PDG ids (``content`` or ``particle_types``)."""
        return self.config.content or self.config.particle_types

    # ------------------------------------------------------------------ features
    def _relative(self, table: torch.Tensor, axis: torch.Tensor):
        """Particles (B, k, 3) → ((log pT/pT_axis, Δη/R, Δφ/R) (B, k, 3), mask) around ``axis``."""
        pt, eta, phi = cartesian_to_ptetaphi(table).unbind(-1)
        mask = pt > 0
        safe = torch.where(mask, pt, torch.ones_like(pt))
        part = torch.stack(
            [
                torch.log(safe / axis[:, 0:1].clamp_min(EPS)),
                (eta - axis[:, 1:2]) / self.config.R,
                wrap_phi(phi - axis[:, 2:3]) / self.config.R,
            ],
            -1,
        )
        return part * mask.unsqueeze(-1), mask

    def _gen_features(self, gen: torch.Tensor):
        """Gen table → (condition (B, 8) raw, per-particle (B, k, 3) raw, mask, gen jet (B, 5))."""
        c = self.config
        gen = gen[:, : c.n_particles]
        jet = jet_features(gen)
        part, mask = self._relative(gen, jet)
        jpt = jet[:, 0:1].clamp_min(EPS)
        flows = momentum_flows(gen, c.R, jet)
        cond = torch.cat(
            [
                torch.log(jpt),
                jet[:, 1:2],
                torch.log(jet[:, 3:4].clamp_min(0.1) / jpt),
                mask.sum(1, keepdim=True).to(gen.dtype) / c.n_particles,
                flows,
            ],
            -1,
        )
        return cond, part, mask, jet

    def _reco_targets(self, reco: torch.Tensor, gen_jet: torch.Tensor):
        """Reco table → (jet response (B, 4) raw, particles (B, k, 3) raw, mask, n)."""
        c = self.config
        reco = reco[:, : c.n_particles]
        jet = jet_features(reco)
        part, mask = self._relative(reco, gen_jet)
        gpt = gen_jet[:, 0:1].clamp_min(EPS)
        y = torch.cat(
            [
                torch.log(jet[:, 0:1].clamp_min(EPS) / gpt),
                torch.log(jet[:, 3:4].clamp_min(0.1) / gen_jet[:, 3:4].clamp_min(0.1)),
                (jet[:, 1:2] - gen_jet[:, 1:2]) / c.R,
                wrap_phi(jet[:, 2:3] - gen_jet[:, 2:3]) / c.R,
            ],
            -1,
        )
        return y, part, mask, mask.sum(1)

    def _flow_shifts(self, reco: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Flow_1..4 of reco tables minus the gen jets' (the raw condition ``cond``'s last four
        columns), (B, 4): what the substructure flow draws."""
        c = self.config
        return momentum_flows(reco[:, : c.n_particles], c.R).to(cond) - cond[:, 4:]

    def _state(self, x: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """State features (B, 2) of normalised particles x (B, m, 3) masked by ``mask``:
        log(pT / pT target) and log(m / m target) of their set, clamped to ±3 (x at t ≈ 0 is
        noise); ``targets`` (:meth:`_targets`). The set is taken in the gen jet's frame (pT in
        units of the gen jet's, angles from its axis): a massless set's jet pT and mass do not
        change under the boost and rotation back."""
        c = self.config
        part = self._denorm("part", x)
        pt = torch.exp(part[..., 0].clamp(-12.0, 3.0)) * mask
        eta, phi = part[..., 1] * c.R, part[..., 2] * c.R
        px, py, pz, e = momentum_sums(pt, eta, phi)
        jpt = torch.sqrt(px**2 + py**2).clamp_min(EPS)
        m = torch.sqrt((e**2 - px**2 - py**2 - pz**2).clamp_min(EPS))
        out = torch.stack([torch.log(jpt) - targets[:, 0], torch.log(m) - targets[:, 1]], -1)
        return out.clamp(-3.0, 3.0)

    def _targets(self, y: torch.Tensor, gjet: torch.Tensor) -> torch.Tensor:
        """(B, 2) targets of :meth:`_state` from raw responses y (B, 4) and gen jets (B, 5):
        log(pT target / gen pT) and log(m target / gen pT)."""
        gpt = gjet[:, 0].clamp_min(EPS)
        return torch.stack(
            [y[:, 0], torch.log(gjet[:, 3].clamp_min(0.1) / gpt) + y[:, 1]], -1
        )

    @torch.no_grad()
    def fit_normalisation(self, gen: torch.Tensor, reco: torch.Tensor, pid: torch.Tensor | None = None) -> None:
        """Set the normalisation buffers from training tables (physical, (N, k, 3)); with the gen
        PDG ids ``pid`` (N, k) for a model that takes them (:attr:`needs_pid`), also the particle
        content's."""
        cond, gpart, gmask, gjet = self._gen_features(gen.double())
        y, part, mask, _ = self._reco_targets(reco.double(), gjet)
        for name, x in (("cond", cond), ("jet", y), ("part", part[mask]), ("gpart", gpart[gmask])):
            self._set_standardisation(name, x)
        content = self.content(gen, pid)
        if content is not None:
            self.set_content_normalisation(content)
        if self.config.substructure_response:
            self.set_substructure_normalisation(self._flow_shifts(reco.double(), cond))

    def set_substructure_normalisation(self, shifts: torch.Tensor | None) -> None:
        """Standardise the Flow_1..4 shifts the substructure flow draws by training jets' shifts
        (N, 4) (:meth:`_flow_shifts`; None: zero mean, unit scale)."""
        if shifts is None:
            self.register_buffer("sub_mean", torch.zeros(N_FLOWS, device=self.cond_mean.device))
            self.register_buffer("sub_std", torch.ones(N_FLOWS, device=self.cond_mean.device))
        else:
            self._set_standardisation("sub", shifts)

    def _set_standardisation(self, name: str, x: torch.Tensor) -> None:
        """(Re)register the buffers ``{name}_mean`` / ``{name}_std`` (:meth:`_norm`) as the mean
        and the deviation (at least 10⁻³) of training values ``x`` (N, d)."""
        for stat, value in (("mean", x.mean(0)), ("std", x.std(0).clamp_min(1e-3))):
            self.register_buffer(f"{name}_{stat}", value.float().to(self.cond_mean.device))

    def add_substructure(self, shifts: torch.Tensor | None = None) -> None:
        """Give the model a fresh substructure flow (:attr:`FSFMConfig.substructure_response`, set
        here) and its normalisation (:meth:`set_substructure_normalisation`)."""
        if not self.config.substructure_response:
            self.config = replace(self.config, substructure_response=True)
        self.set_substructure_normalisation(shifts)
        self.substructure = substructure_flow(self.config).to(self.cond_mean.device)

    @torch.no_grad()
    def add_count_pool(self, pool: torch.Tensor) -> None:
        """Switch on :attr:`FSFMConfig.count_pooled`: the pooled gen-set features' standardisation
        from training jets' (N, hidden) (:meth:`_encode_gen`'s third output) and a fresh
        multiplicity head that takes them (from the current random state; fitted by
        :func:`hepgen.train.fastsim_fm.refit_count`)."""
        self.config = replace(self.config, count_pooled=True)
        self._set_standardisation("pool", pool)
        self.count_head = count_head(self.config).to(self.cond_mean.device)

    def _norm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return (x - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")

    def _denorm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return x * getattr(self, f"{name}_std") + getattr(self, f"{name}_mean")

    def _encode_gen(self, gen: torch.Tensor, pid: torch.Tensor | None = None):
        """Gen table (B, ≥k, 3) (and, for ``particle_types``, its PDG ids) → (normalised condition,
        encoded particles, their pooled features, mask, gen jet)."""
        cond, gpart, gmask, gjet = self._gen_features(gen)
        cn = self._norm("cond", cond)
        gp = self._norm("gpart", gpart) * gmask.unsqueeze(-1)
        if self.config.particle_types:
            gp = torch.cat([gp, self._classes(pid, gp)], -1)
        h = _split_first(self.gen_embed, gp, cn)
        h, g = self.gen_layer(h, self.gen_glob(cn), gmask)
        return cn, h, g, gmask, gjet

    def _classes(self, pid: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """One-hot classes (B, m, 3) of the first m gen particles' PDG ids (``like``: (B, m, ·))."""
        if pid is None:
            raise ValueError(
                "this model's particle network takes the gen particle types: give the gen "
                "particles' PDG ids (pid)"
            )
        return particle_classes(pid[:, : like.shape[1]].to(like.device).long()).to(like.dtype)

    def count_input(
        self, cn: torch.Tensor, content: torch.Tensor | None = None, pool: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The multiplicity head's input: the normalised gen condition ``cn`` and, for
        ``particle_types``, the raw particle content (B, 3) (:meth:`content`), for ``count_pooled``
        the gen set's pooled features (B, hidden) (:meth:`_encode_gen`'s third output), each
        standardised."""
        parts = [cn]
        if self.config.particle_types:
            if content is None:
                raise ValueError("this model's multiplicity head takes the gen particle content: give pid")
            parts.append(self._norm("content", content.to(cn)))
        if self.config.count_pooled:
            if pool is None:
                raise ValueError("this model's multiplicity head takes the gen set's pooled features: give pool")
            parts.append(self._norm("pool", pool.to(cn)))
        return torch.cat(parts, -1)

    def count_logits(
        self, cn: torch.Tensor, content: torch.Tensor | None = None, pool: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The multiplicity head's logits (B, k + 1) (inputs: :meth:`count_input`)."""
        return self.count_head(self.count_input(cn, content, pool))

    def multiplicity(
        self, cn: torch.Tensor, u: torch.Tensor, content: torch.Tensor | None = None, pool: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reco multiplicities (B,) drawn from the count head's softmax by inverse CDF, for the
        head's inputs (:meth:`count_input`) and uniform noise ``u`` (B, 1); at least 1, at most k."""
        cdf = torch.cumsum(torch.softmax(self.count_logits(cn, content, pool), -1), -1)
        n = torch.searchsorted(cdf, u.to(cdf).contiguous()).squeeze(-1)
        return n.clamp(1, self.config.n_particles)

    def _context(self, cn: torch.Tensor, yn: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return torch.cat([cn, yn, n.unsqueeze(-1).to(cn.dtype) / self.config.n_particles], -1)

    def _response_context(
        self, cn: torch.Tensor, n: torch.Tensor, content: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The response flow's context: normalised gen condition, n/k and, for a ``content``
        model, the normalised particle content (raw fractions (B, 3), :meth:`content`)."""
        parts = [cn, n.unsqueeze(-1).to(cn.dtype) / self.config.n_particles]
        if self.config.content:
            if content is None:
                raise ValueError("this model's response is conditioned on the gen particle content: give pid")
            parts.append(self._norm("content", content.to(cn)))
        return torch.cat(parts, -1)

    def content(self, gen: torch.Tensor, pid: torch.Tensor | None) -> torch.Tensor | None:
        """Raw particle-content fractions (B, 3) of gen tables (B, ≥k, 3) with PDG ids (B, ≥k),
        for a model that takes them (:attr:`needs_pid`; None otherwise, and such a model
        without ``pid`` raises)."""
        if not self.needs_pid:
            return None
        if pid is None:
            raise ValueError(
                "this model is conditioned on the gen particle content: give the gen "
                "particles' PDG ids (pid)"
            )
        k = self.config.n_particles
        return particle_content(gen[:, :k].double(), pid[:, :k].to(gen.device).long()).to(gen.dtype)

    @torch.no_grad()
    def set_content_normalisation(self, content: torch.Tensor) -> None:
        """Standardise the particle content by these training jets' fractions (N, 3); makes a
        model whose config has ``content`` complete (a stage-2 refit calls it, unless its source
        already took the content: ``particle_types``)."""
        self._set_standardisation("content", content)

    def response_log_prob(self, context: torch.Tensor, yn: torch.Tensor) -> torch.Tensor:
        """log p(normalised response | response context) of the flow (or of the ensemble), (B,)."""
        if isinstance(self.response, ResponseEnsemble):
            return self.response.log_prob(context, yn)
        return self.response(context).log_prob(yn)

    def response_sample(
        self, context: torch.Tensor, z: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Normalised responses (B, 4) from base noise ``z`` (B, 4); ``u`` (B, 1) uniforms pick
        the member of an ensemble (required then, ignored for one flow)."""
        if isinstance(self.response, ResponseEnsemble):
            if u is None:
                raise ValueError("an ensemble response needs the member noise u")
            return self.response.sample(context, z, u)
        return self.response(context).transform.inv(z)

    @torch.no_grad()
    def response_data(
        self, gen: torch.Tensor, reco: torch.Tensor, pid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(context (B, 9; 12 with ``content``), normalised jet response (B, 4)) of gen/reco
        tables (and the gen PDG ids, for a ``content`` model): what the jet-response flow
        ``self.response`` is trained on (its NLL is ``-log_prob / 4``)."""
        cond, _, _, gjet = self._gen_features(gen)
        y, _, _, n = self._reco_targets(reco, gjet)
        ctx = self._response_context(self._norm("cond", cond), n, self.content(gen, pid))
        return ctx, self._norm("jet", y)

    @torch.no_grad()
    def substructure_data(
        self, gen: torch.Tensor, reco: torch.Tensor, pid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(context: the response flow's and the normalised true response (B, 13; 16 with
        ``content``), normalised Flow_1..4 shifts (B, 4)): what the substructure flow
        ``self.substructure`` is trained on."""
        cond, _, _, gjet = self._gen_features(gen)
        y, _, _, n = self._reco_targets(reco, gjet)
        ctx = self._response_context(self._norm("cond", cond), n, self.content(gen, pid))
        return torch.cat([ctx, self._norm("jet", y)], -1), self._norm("sub", self._flow_shifts(reco, cond))

    # ------------------------------------------------------------------ training
    def loss(
        self, gen: torch.Tensor, reco: torch.Tensor, generator: torch.Generator | None = None,
        pid: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Flow-matching MSE + jet-response NLL + multiplicity cross-entropy (physical tables;
        ``pid``: the gen PDG ids, for a model that takes them, :attr:`needs_pid`)."""
        cn, gh, gpool, gmask, gjet = self._encode_gen(gen, pid)
        y, part, mask, n = self._reco_targets(reco, gjet)
        yn = self._norm("jet", y)
        content = self.content(gen, pid)
        count = nn.functional.cross_entropy(self.count_logits(cn, content, gpool), n)
        context = self._response_context(cn, n, content)
        nll = -self.response_log_prob(context, yn).mean() / N_JET
        if self.config.substructure_response:
            sn = self._norm("sub", self._flow_shifts(reco, self._denorm("cond", cn)))
            nll = nll - self.substructure(torch.cat([context, yn], -1)).log_prob(sn).mean() / N_FLOWS
        x1 = self._norm("part", part) * mask.unsqueeze(-1)
        eps = torch.randn(x1.shape, generator=generator, device=x1.device)
        if self.config.source == "gen" and self.config.source_pairing == "ot":
            x0 = self._start_ot(gen, gjet, x1, eps, mask)
        else:
            x0 = self._start(gen, gjet, eps, mask)
        t = torch.rand(len(x1), generator=generator, device=x1.device)
        xt = (1 - t)[:, None, None] * x0 + t[:, None, None] * x1
        state = self._state(xt, self._targets(y, gjet), mask) if self.config.state_features else None
        v = self.velocity(xt, t, self._context(cn, yn, n), gh, gpool, gmask, mask, state=state)
        m = mask.unsqueeze(-1).to(v.dtype)
        fm = (((v - (x1 - x0)) ** 2) * m).sum() / (3 * m.sum()).clamp_min(1.0)
        return {"loss": fm + nll + count, "fm": fm, "nll": nll, "count": count}

    # ------------------------------------------------------------------ inference
    def noise_shapes(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """The noise one jet consumes: a uniform for the multiplicity, the response flow's
        base sample, the flow-matching start points, for an ensemble response a uniform that
        picks its member and, for ``candidates`` > 1, the further start points (each after the
        streams of the simpler model, so those stay the same)."""
        shapes = {
            "count": ("uniform", (1,)),
            "response": ("normal", (N_JET,)),
            "x0": ("normal", (self.config.n_particles, 3)),
        }
        if self.config.response_members > 1:
            shapes["member"] = ("uniform", (1,))
        if self.config.candidates > 1:
            shapes["x0_more"] = ("normal", (self.config.candidates - 1, self.config.n_particles, 3))
        if self.config.substructure_response:
            shapes["substructure"] = ("normal", (N_FLOWS,))
        return shapes

    def draw_noise(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> dict[str, torch.Tensor]:
        """The noise of ``n`` jets (:meth:`noise_shapes`), drawn from ``generator`` in that order:
        what :meth:`simulate` draws when it is given no ``noise``."""
        return {
            name: (torch.rand if dist == "uniform" else torch.randn)(
                (n, *shape), generator=generator, device=device
            )
            for name, (dist, shape) in self.noise_shapes().items()
        }

    def _gen_particles(self, gen: torch.Tensor, gjet: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gen particles (B, k, 3) raw around the gen jet ``gjet`` and their mask, as
        :meth:`_gen_features` has them (without recomputing the condition's momentum flows)."""
        return self._relative(gen[:, : self.config.n_particles], gjet)

    def _start(self, gen: torch.Tensor, gjet: torch.Tensor, eps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The paths' start points (B, k, 3) for physical gen tables ``gen`` (gen jets ``gjet``)
        and standard-normal ``eps`` (:attr:`FSFMConfig.source`), zero outside the reco ``mask``."""
        if self.config.source == "gen":
            gpart, gmask = self._gen_particles(gen, gjet)
            # by pT rank, whatever the table's order (the model stays permutation invariant in it)
            order = torch.argsort(torch.where(gmask, gpart[..., 0], -torch.inf), dim=1, descending=True, stable=True)
            g = torch.take_along_dim(self._norm("part", gpart), order.unsqueeze(-1), dim=1)
            gmask = torch.take_along_dim(gmask, order, dim=1)
            eps = torch.where(gmask.unsqueeze(-1), g + self.config.source_sigma * eps, eps)
        return eps * mask.unsqueeze(-1)

    def _start_ot(
        self, gen: torch.Tensor, gjet: torch.Tensor, x1: torch.Tensor, eps: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Training start points for ``source_pairing="ot"``: each reco particle of ``x1`` (B, k, 3,
        normalised) starts at its partner in the optimal assignment to the gen particles
        (Euclidean cost in the normalised coordinates) plus ``source_sigma`` × ``eps``; reco
        particles without a partner start from ``eps``."""
        from scipy.optimize import linear_sum_assignment

        gpart, gmask = self._gen_particles(gen, gjet)
        g = self._norm("part", gpart).detach()
        anchor = eps.clone()
        x1c, gc = x1.detach().cpu().numpy(), g.cpu().numpy()
        rm, gm = mask.cpu().numpy(), gmask.cpu().numpy()
        rows, cols, jets = [], [], []
        for b in range(len(x1c)):
            r_idx, g_idx = np.flatnonzero(rm[b]), np.flatnonzero(gm[b])
            if len(r_idx) == 0 or len(g_idx) == 0:
                continue
            cost = np.linalg.norm(x1c[b][r_idx][:, None, :] - gc[b][g_idx][None, :, :], axis=-1)
            ri, gi = linear_sum_assignment(cost)
            rows.append(r_idx[ri])
            cols.append(g_idx[gi])
            jets.append(np.full(len(ri), b))
        if rows:
            jb, rb, gb = (torch.as_tensor(np.concatenate(a), device=x1.device) for a in (jets, rows, cols))
            anchor[jb, rb] = g[jb, gb] + self.config.source_sigma * eps[jb, rb]
        return anchor * mask.unsqueeze(-1)

    def _integrate(
        self, x: torch.Tensor, ctx: torch.Tensor, gh: torch.Tensor, gpool: torch.Tensor,
        gmask: torch.Tensor, mask: torch.Tensor, n: torch.Tensor, steps: int, chunk: int | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The flow-matching ODE (midpoint rule, ``steps`` steps) from ``x`` (B, k, 3), masked to
        the multiplicities ``n`` (B,) (``mask`` (B, k): the first ``n`` slots).

        The jets run in groups of ``chunk`` of similar ``n`` (sorted), each group trimmed to its
        largest ``n`` and its gen sets to their last real particle: the padding is masked out of
        every layer (per-particle maps, masked means, attention keys), so trimming it changes
        nothing but the float rounding, and it is most of the work — boosted-WW jets have ~32 of
        the k = 50 reco slots filled and ~23 gen particles. The noise of a jet does not depend on
        its group (it is drawn per jet before). ``chunk=0``: one group, untrimmed, the attention
        through ``nn.MultiheadAttention`` — the computation as it was before 2026-12-05, kept as
        the reference of ``benchmarks/fastsim.py`` and the tests. ``targets`` (B, 2): those of
        the state features (``state_features``).
        """
        B = len(x)
        if chunk == 0:
            return self._solve(x, ctx, gh, gpool, gmask, mask, steps, None, targets)
        if chunk is None:
            chunk = 128 if x.device.type == "cpu" else B
        if chunk < 0:
            raise ValueError(f"chunk must be ≥ 0 or None, got {chunk}")
        slots = torch.arange(1, gmask.shape[1] + 1, device=x.device)
        gen_len = (gmask * slots).amax(1)  # one past each gen set's last real particle
        order = torch.argsort(n, stable=True)
        out = torch.zeros_like(x)
        for s in range(0, B, int(chunk)):
            idx = order[s : s + chunk]
            kn = int(n[idx].max())
            kg = max(int(gen_len[idx].max()), 1)
            xi, ci, pi = x[idx, :kn], ctx[idx], gpool[idx]
            hi, gi = gh[idx, :kg], gmask[idx, :kg]
            keys = self.velocity.gen_keys(hi)
            ti = None if targets is None else targets[idx]
            out[idx, :kn] = self._solve(xi, ci, hi, pi, gi, mask[idx, :kn], steps, keys, ti)
        return out

    def _solve(self, x, ctx, gh, gpool, gmask, mask, steps: int, keys=None, targets=None) -> torch.Tensor:
        """``steps`` midpoint steps of dx/dt = velocity from t = 0 to 1."""
        dt = 1.0 / max(steps, 1)
        state = (lambda x: None) if targets is None else (lambda x: self._state(x, targets, mask))
        for i in range(steps):
            t = torch.full((len(x),), i * dt, device=x.device)
            v1 = self.velocity(x, t, ctx, gh, gpool, gmask, mask, keys, state(x))
            xm = x + 0.5 * dt * v1
            v2 = self.velocity(xm, t + 0.5 * dt, ctx, gh, gpool, gmask, mask, keys, state(xm))
            x = x + dt * v2
        return x

    @torch.no_grad()
    def simulate(
        self,
        gen: torch.Tensor,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        noise: dict[str, torch.Tensor] | None = None,
        chunk: int | None = None,
        pid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reco tables (B, k, 3) GeV for gen tables (B, ≥k, 3) GeV.

        Noise comes from ``noise`` (per jet, see :meth:`noise_shapes`) when given, else from
        ``generator``; ``steps`` overrides the configured number of ODE steps; ``chunk``: see
        :meth:`_integrate` (None: 128 jets on the CPU, the whole batch on other devices);
        ``pid`` (B, ≥k): the gen particles' PDG ids, needed by a model that takes them only
        (:attr:`needs_pid`: ``content`` or ``particle_types``).
        """
        c = self.config
        steps = c.steps if steps is None else int(steps)
        gen = gen[:, : c.n_particles].float()
        B, k = len(gen), c.n_particles
        if B == 0:
            return torch.zeros(0, k, 3, device=gen.device)
        dev = gen.device
        content = self.content(gen, pid)
        if noise is None:
            noise = self.draw_noise(B, generator, dev)
        cn, gh, gpool, gmask, gjet = self._encode_gen(gen, pid)
        n = self.multiplicity(cn, noise["count"], content, gpool)
        member = noise.get("member")
        response_context = self._response_context(cn, n, content)
        yn = self.response_sample(response_context, noise["response"].to(cn), None if member is None else member.to(cn))
        mask = torch.arange(k, device=dev).unsqueeze(0) < n.unsqueeze(-1)
        ctx = self._context(cn, yn, n)
        K = c.candidates
        x = noise["x0"].to(cn)
        if K > 1:  # jet-major: the candidates of jet i are rows i·K … i·K + K − 1
            x = torch.cat([x.unsqueeze(1), noise["x0_more"].to(cn)], 1).flatten(0, 1)
        rep = (lambda t: t.repeat_interleave(K, 0)) if K > 1 else (lambda t: t)
        y = self._denorm("jet", yn)
        target_pt, target_mass = gjet[:, 0:1] * torch.exp(y[:, 0:1]), gjet[:, 3:4].clamp_min(0.1) * torch.exp(y[:, 1:2])
        target_flows, floor_pt = None, 0.0
        if c.project_substructure:  # Flow_1..4: the gen jet's plus the change drawn given the response
            shift = self.substructure(torch.cat([response_context, yn], -1)).transform.inv(noise["substructure"].to(cn))
            target_flows = (self._denorm("cond", cn)[:, 4:] + self._denorm("sub", shift)).clamp_min(0.0)
            floor_pt = c.min_pt  # in every round: the annulus scaling pushes soft particles under it
        x = self._integrate(
            self._start(rep(gen), rep(gjet), x, rep(mask)), rep(ctx), rep(gh), rep(gpool), rep(gmask), rep(mask),
            rep(n), steps, chunk, rep(self._targets(y, gjet)) if c.state_features else None,
        )
        part = self._denorm("part", x)
        gpt, geta, gphi = rep(gjet[:, 0:1]), rep(gjet[:, 1:2]), rep(gjet[:, 2:3])
        pt = gpt * torch.exp(part[..., 0].clamp(max=3.0)) * rep(mask)
        eta = geta + part[..., 1] * c.R
        phi = gphi + part[..., 2] * c.R
        if K > 1:  # keep the candidate whose m/pT is nearest the target's
            feats = jet_features(ptetaphi_to_cartesian(torch.stack([pt, eta, phi], -1)))
            miss = (torch.log(feats[:, 3].clamp_min(0.1) / feats[:, 0].clamp_min(EPS))
                    - rep(torch.log(target_mass / target_pt.clamp_min(EPS)))[:, 0]).abs()
            best = torch.arange(B, device=dev) * K + miss.view(B, K).argmin(1)
            pt, eta, phi = pt[best], eta[best], phi[best]
        if c.project or c.project_mass or c.contain or target_flows is not None:
            # the flow owns the jet pT and mass response; the particles keep the cone: Delphes'
            # reco jets are anti-kt clusters (0.9% of their particles lie beyond R, the
            # flow-matching output had 5%, which reclustering then drops)
            pt, eta, phi = project_jet(
                pt, eta, phi, target_pt, target_mass, c.R, project=c.project,
                project_mass=c.project_mass, contain=c.contain, mass_mode=c.mass_mode,
                iterations=c.projection_rounds, target_flows=target_flows, floor_pt=floor_pt,
                flows_mode=c.flows_mode,
            )
        if c.contain_antikt:
            # pulling edge particles in lowers the mass: on the sets that were unstable, alternate
            # projections and containment until a projected set stays stable (at most 8 rounds;
            # each round only on the sets the last containment moved), then project the pT of
            # every set that was moved again (rescaling pT moves no particle across anti-kt)
            eta_c, phi_c = antikt_contain(pt, eta, phi, c.R)
            todo = ((eta_c != eta) | (phi_c != phi)).any(1).nonzero(as_tuple=True)[0]
            eta, phi = eta_c, phi_c
            if len(todo):
                pt, eta, phi = pt.clone(), eta.clone(), phi.clone()
                moved = todo
                for _ in range(8):
                    p, e, f = project_jet(
                        pt[todo], eta[todo], phi[todo], target_pt[todo], target_mass[todo], c.R,
                        project=c.project, project_mass=c.project_mass, contain=c.contain,
                        mass_mode=c.mass_mode, iterations=2,
                        target_flows=None if target_flows is None else target_flows[todo], floor_pt=floor_pt,
                        flows_mode=c.flows_mode,
                    )
                    e_c, f_c = antikt_contain(p, e, f, c.R)
                    again = ((e_c != e) | (f_c != f)).any(1)
                    pt[todo], eta[todo], phi[todo] = p, e_c, f_c
                    todo = todo[again]
                    if not len(todo):
                        break
                pt[moved] = project_jet(pt[moved], eta[moved], phi[moved], target_pt[moved], None, c.R, project=c.project)[0]
        if c.close_mass and c.project_mass:  # the annuli and anti-kt moved some sets off their mass
            pt, eta, phi = close_mass(pt, eta, phi, target_pt, target_mass, c.R, mass_mode=c.mass_mode,
                                      contain=c.contain, floor_pt=floor_pt, antikt=c.contain_antikt)
        if c.project_axis:  # the jet direction is the flow's draw (a shift of the whole set)
            axis = torch.cat([gjet[:, 1:2] + y[:, 2:3] * c.R, wrap_phi(gjet[:, 2:3] + y[:, 3:4] * c.R)], -1)
            pt, eta, phi = project_jet(pt, eta, phi, None, None, c.R, project=False, target_axis=axis)
        if c.min_pt > 0:  # the reco tables hold no particle below the EFlow threshold
            pt = torch.where(mask, pt.clamp_min(c.min_pt), pt)
        out = ptetaphi_to_cartesian(torch.stack([pt, eta, phi], -1))
        order = torch.argsort(-torch.hypot(out[..., 0], out[..., 1]), dim=1)
        return torch.take_along_dim(out, order.unsqueeze(-1), dim=1)
