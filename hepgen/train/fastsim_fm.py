"""Training fast-sim v2 (:class:`~hepgen.models.fastsim_fm.FSFM`) on matched gen/reco jet sets.

Pairs are selected on the model's *condition* — gen jet pT > ``gen_min_pt`` (100 GeV: what the
processor simulates) — never on its output, and every matched reco jet is kept. Model selection
on the validation loss (flow-matching MSE + response NLL + multiplicity cross-entropy).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from hepgen.data.datasets import JetPairDataset, require_jets, split_indices
from hepgen.models import checkpoint
from hepgen.models.device import pick_device
from hepgen.models.fastsim_fm import (
    FSFM,
    N_COND,
    FSFMConfig,
    ResponseEnsemble,
    response_flow,
    substructure_flow,
)
from hepgen.train.loop import TrainConfig, command_line, fit_checkpointed, pair_dataset_info

__all__ = [
    "RESPONSE_FLOW_KEYS", "balance_processes", "cross_validate_response", "gen_pt_weights", "process_family", "refit_count", "refit_response",
    "stack_response_flows", "train_fastsim_fm",
]

#: the FSFM settings a response refit may change (the flow's architecture)
RESPONSE_FLOW_KEYS = ("flow_transforms", "flow_hidden", "content", "substructure_response")


def process_family(path: str | os.PathLike) -> str:
    """A dataset file's family: its name without the ``_sNNN`` seed and suffix."""
    import re

    return re.sub(r"_s\d+$", "", os.path.splitext(os.path.basename(os.fspath(path)))[0])


def balance_processes(tr: JetPairDataset, data: Sequence[str | os.PathLike], seed: int) -> dict:
    """Weight the processes equally: repeat the training jets of each file family up to the
    largest family's count (at most 3×), in place; returns {family: {jets, weight}}."""
    names = [process_family(p) for p in data]
    fam = np.array([names[int(i)] for i in (tr.event_keys >> 48)])
    counts = {f: int((fam == f).sum()) for f in sorted(set(names))}
    top = max(counts.values())
    reps, families = [], {}
    for f, n in counts.items():
        idx = np.flatnonzero(fam == f)
        factor = min(3.0, top / max(n, 1))
        whole, frac = int(factor), factor - int(factor)
        extra = np.random.default_rng(seed).choice(idx, int(frac * len(idx)), replace=False)
        reps.append(np.concatenate([np.tile(idx, whole), extra]))
        families[f] = {"jets": n, "weight": round(factor, 3)}
    tr.subset(np.concatenate(reps))
    return families


#: gen jet pT bin edges (GeV) of :func:`gen_pt_weights`: the response table's bins, below 200 one bin
PT_BALANCE_EDGES = (200.0, 300.0, 400.0, 600.0)


def _gen_pt(gen: torch.Tensor) -> torch.Tensor:
    from hepgen.physics.kinematics import jet_features

    return jet_features(gen.double())[:, 0].float()


def gen_pt_weights(gen_pt: torch.Tensor, cap: float) -> torch.Tensor:
    """Per-jet weights that flatten the gen-pT spectrum over the bins < 200, 200–300, 300–400,
    400–600 and ≥ 600 GeV: a bin's jets weigh (most populated bin's count / its count), at most
    ``cap``; normalised to mean 1.

    The response flow is fitted to a spectrum that falls steeply (boosted WW: 5% of the jets
    above 200 GeV lie in 400–600 GeV), so the likelihood barely feels the high-pT bins.
    """
    edges = torch.tensor(PT_BALANCE_EDGES, dtype=gen_pt.dtype)
    b = torch.bucketize(gen_pt, edges, right=True)
    counts = torch.bincount(b, minlength=len(edges) + 1).to(torch.float64)
    per_bin = (counts.max() / counts.clamp_min(1)).clamp(max=cap)
    w = per_bin[b]
    return (w / w.mean()).float()


def _splits(data, k: int, train: TrainConfig, gen_min_pt, split_seed, exclude_events, balance):
    """(train, valid, process weights): the event-grouped split selected on the gen jet, the
    optional ``max_train_jets`` subsample and the optional process balancing."""
    tr, va = (
        JetPairDataset(
            data, s, k=k, seed=split_seed, gen_min_pt=gen_min_pt, exclude_events=exclude_events
        )
        for s in ("train", "valid")
    )
    require_jets(tr, va, data)
    if train.max_train_jets and len(tr) > train.max_train_jets:
        tr.subset(np.random.default_rng(train.seed).choice(len(tr), train.max_train_jets, replace=False))
    return tr, va, balance_processes(tr, data, train.seed) if balance else {}


def train_fastsim_fm(
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    config: FSFMConfig = FSFMConfig(),
    train: TrainConfig = TrainConfig(),
    gen_min_pt: float = 100.0,
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    exclude_events: np.ndarray | None = None,
    on_epoch=None,
    balance: bool = False,
) -> dict:
    """Train :class:`FSFM`; writes the best checkpoint to ``output`` (and ``output.last.pt``).

    Args:
        data: HDF5 jet-pair files (all of them take part in the event-grouped split).
        output: checkpoint path.
        config: model hyperparameters.
        train: loop settings (epochs, batch size, budget, seed, device).
        gen_min_pt: selection on the gen jet pT (GeV).
        split_seed: seed of the 70/15/15 split by event.
        resume: continue from ``output.last.pt``.
        progress: progress bars.
        exclude_events: event numbers held out (e.g. a demo sample's).
        balance: weight the processes equally — the training jets of each file family (the
            file name without its ``_sNNN`` seed, e.g. ``fastsim_qcd_pu50_highpt``) are repeated
            up to the largest family's count (at most 3×). Validation is not reweighted.
    """
    for option in ("content", "substructure_response"):
        if getattr(config, option):
            from hepgen.errors import HepgenInputError

            raise HepgenInputError(
                f"{option} is an option of the jet-response flow, which stage 2 fits: train without "
                "it, then hepgen train fastsim-fm --refit-response STAGE1.pt --config FILE, the file "
                f'holding {{"model": {{"{option}": true}}}}'
            )
    torch.manual_seed(train.seed)
    tr, va, families = _splits(data, config.n_particles, train, gen_min_pt, split_seed, exclude_events, balance)
    device = pick_device(train.device)
    model = FSFM(config)
    model.fit_normalisation(tr.gen, tr.reco, tr.gen_pid if model.needs_pid else None)
    # the PDG ids travel with the tables where the model takes them (particle_types)
    train_set = torch.utils.data.TensorDataset(
        *((tr.gen, tr.reco, tr.gen_pid) if model.needs_pid else (tr.gen, tr.reco))
    )
    vgen_state = torch.Generator().manual_seed(train.seed + 1).get_state()

    def loss_fn(m, batch, generator):
        g, r, *p = batch
        return m.loss(g, r, generator=None if g.is_cuda else generator, pid=p[0] if p else None)

    def validate(m) -> dict[str, float]:
        vgen = torch.Generator().manual_seed(0)
        vgen.set_state(vgen_state)
        terms: dict[str, float] = {}
        with torch.inference_mode():
            for i in range(0, len(va), 2048):
                g = va.gen[i : i + 2048].to(device)
                r = va.reco[i : i + 2048].to(device)
                p = va.gen_pid[i : i + 2048].to(device) if m.needs_pid else None
                for key, v in m.loss(g, r, generator=None if g.is_cuda else vgen, pid=p).items():
                    terms[key] = terms.get(key, 0.0) + float(v) * len(g)
        return {f"valid_{key}": v / max(len(va), 1) for key, v in terms.items()}

    output = os.fspath(output)
    dataset_info = pair_dataset_info(
        tr, va, data, config.n_particles, split_seed, exclude_events, gen_min_pt=gen_min_pt, processes=families
    )
    command = command_line()

    def save_best(record: dict) -> None:
        checkpoint.save(
            output,
            model="fastsim_fm",
            config=config.to_dict(),
            state_dict={key: v.detach().cpu() for key, v in model.state_dict().items()},
            normalisation={},
            dataset=dataset_info,
            training={**record, "command": command},
        )

    train = replace(train, learning_rate=train.learning_rate or config.learning_rate)
    return fit_checkpointed(
        output, resume, model, loss_fn, train_set, validate, "valid_loss", train, save_best,
        progress=progress, on_epoch=on_epoch,
    )


def _source_model(ck: dict) -> FSFM:
    """The FSFM of a loaded checkpoint, in eval mode. Built as a single-flow model whatever its
    response, so that the random stream after it — a refit's new flow's initialisation — depends
    only on the seed (an ensemble's refit with seed j is its members' seed-j refit); an
    ensemble's flows are built aside (``fork_rng``)."""
    source_config = FSFMConfig.from_dict(ck["config"])
    model = FSFM(replace(source_config, response_members=1))
    if source_config.response_members > 1:
        with torch.random.fork_rng():
            model.response = ResponseEnsemble(
                [response_flow(source_config) for _ in range(source_config.response_members)]
            )
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def _response_features(
    model: FSFM, ds: JetPairDataset, substructure: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(context, normalised response) of every jet pair of ``ds``: the response flow's data (or,
    with ``substructure``, the substructure flow's: :meth:`FSFM.substructure_data`)."""
    pid = ds.gen_pid if model.needs_pid else None
    data = model.substructure_data if substructure else model.response_data
    parts = [
        data(ds.gen[i : i + 4096], ds.reco[i : i + 4096], None if pid is None else pid[i : i + 4096])
        for i in range(0, len(ds), 4096)
    ]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _response_loss(f, batch, generator) -> dict[str, torch.Tensor]:
    """The response flow's training loss: the (weighted) NLL per response dimension."""
    c, y, w = batch
    nll = -(f(c).log_prob(y) * w).sum() / w.sum() / y.shape[1]
    return {"loss": nll, "nll": nll}


def _mean_nll(log_prob, ctx: torch.Tensor, y: torch.Tensor, dev) -> float:
    """Mean NLL per response dimension of ``log_prob(context, y)`` over (ctx, y), on ``dev``."""
    with torch.inference_mode():
        total = sum(
            float(-log_prob(ctx[i : i + 8192].to(dev), y[i : i + 8192].to(dev)).sum())
            for i in range(0, len(y), 8192)
        )
    return total / y.shape[1] / max(len(y), 1)


def _refit_source(source: str | os.PathLike, data: Sequence[str | os.PathLike], split_seed: int, flag: str) -> dict:
    """The loaded FSFM checkpoint a refit starts from, checked against the refit's files (the
    same, in the same order: the split is by event over the list) and split seed."""
    from hepgen.errors import HepgenInputError

    ck = checkpoint.load(source)
    if ck["model"] != "fastsim_fm":
        raise HepgenInputError(f"{source}: a {ck['model']} checkpoint; {flag} needs a fastsim_fm one")
    names = [os.path.basename(os.fspath(p)) for p in data]
    trained = list(ck["dataset"].get("files", []))
    if names != trained:
        raise HepgenInputError(
            f"{source} was trained on {trained}; give the same files in the same order (the split "
            f"is by event over the file list), got {names}"
        )
    if int(ck["dataset"].get("split_seed", 0)) != split_seed:
        raise HepgenInputError(
            f"{source} was trained with --split-seed {ck['dataset'].get('split_seed')}, got {split_seed}"
        )
    return ck


def _count_parts(model: FSFM, ds: JetPairDataset) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """(normalised gen condition, particle content or None, pooled gen-set features, true reco
    multiplicity) of every jet pair of ``ds``: what the multiplicity head's input
    (:meth:`FSFM.count_input`) is made of, and its target."""
    parts: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        for i in range(0, len(ds), 4096):
            gen, reco = ds.gen[i : i + 4096], ds.reco[i : i + 4096]
            pid = ds.gen_pid[i : i + 4096] if model.needs_pid else None
            cn, _, pool, _, gjet = model._encode_gen(gen, pid)
            content = model.content(gen, pid) if model.config.particle_types else None
            parts.append((cn, content, pool, model._reco_targets(reco, gjet)[3].long()))
    contents = [q[1] for q in parts]
    return (
        torch.cat([q[0] for q in parts]),
        None if contents[0] is None else torch.cat([c for c in contents if c is not None]),
        torch.cat([q[2] for q in parts]),
        torch.cat([q[3] for q in parts]),
    )


def _kept_records(ck: dict) -> dict:
    """The source checkpoint's training records that stay with the response it made (a refit of
    another part keeps them): its ensemble members' and stage 1's epoch histories."""
    return {k: ck[k] for k in ("member_histories", "stage1_history") if k in ck}


def _count_loss(head, batch, generator) -> dict[str, torch.Tensor]:
    """The multiplicity head's training loss: cross-entropy of the true reco multiplicity."""
    x, n = batch
    ce = torch.nn.functional.cross_entropy(head(x), n)
    return {"loss": ce, "ce": ce}


def _mean_ce(head, x: torch.Tensor, n: torch.Tensor, dev) -> float:
    """Mean cross-entropy of ``head(x)`` against the multiplicities ``n``, on ``dev``."""
    with torch.inference_mode():
        total = sum(
            float(torch.nn.functional.cross_entropy(head(x[i : i + 8192].to(dev)), n[i : i + 8192].to(dev), reduction="sum"))
            for i in range(0, len(n), 8192)
        )
    return total / max(len(n), 1)


def refit_count(
    source: str | os.PathLike,
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    train: TrainConfig = TrainConfig(epochs=100, learning_rate=1e-3, patience=15, schedule="cosine"),
    gen_min_pt: float = 100.0,
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    exclude_events: np.ndarray | None = None,
    balance: bool = False,
) -> dict:
    """Train the multiplicity head of a trained :class:`FSFM` afresh, with the gen set's pooled
    features among its inputs (:attr:`~hepgen.models.fastsim_fm.FSFMConfig.count_pooled`).

    Stage 1's head sees the gen jet's eight numbers only (another fit on those: validation
    cross-entropy 2.951 → 2.939 on the shipped default's split); the particles say more: with the
    pooled features of the (frozen) gen encoder beside them it falls to 2.905 (RESULTS.md
    §2, "The multiplicity head and the gen particles"). The encoder, the response flow(s), the
    substructure flow and the particle network are kept (they are trained on the true
    multiplicity: a better head needs no change there); the pooled features are standardised by
    their training-split mean and deviation (:meth:`FSFM.add_count_pool`). The features are
    computed once; selection on the validation cross-entropy. The source head's is recorded
    beside it (``training.source_valid_ce``). The shipped checkpoints keep stage 1's head: with the pooled
    features the WW-only model's multiplicity on QCD, a process it never saw, went from 1.16 to
    1.49× the floor — a head for the process it was trained on.

    Args:
        source: a trained FSFM checkpoint (any stage; its head is replaced).
        data: the files it was trained on, in its order.
        output: the new checkpoint (``output.last.pt`` for resuming).
        train: loop settings for the head.
        gen_min_pt, split_seed, exclude_events, balance: as for :func:`train_fastsim_fm`.

    Example::

        >>> refit_count("fastsim_ww_pu50", files, "counted.pt")
    """
    ck = _refit_source(source, data, split_seed, "--refit-count")
    model = _source_model(ck)
    tr, va, families = _splits(data, model.config.n_particles, train, gen_min_pt, split_seed, exclude_events, balance)
    cn_tr, content_tr, pool_tr, n_tr = _count_parts(model, tr)
    cn_va, content_va, pool_va, n_va = _count_parts(model, va)
    source_ce = _mean_ce(model.count_head, model.count_input(cn_va, content_va, pool_va), n_va, "cpu")
    torch.manual_seed(train.seed)
    model.add_count_pool(pool_tr)
    x_tr, x_va = (model.count_input(c, q, p) for c, q, p in ((cn_tr, content_tr, pool_tr), (cn_va, content_va, pool_va)))
    head = model.count_head
    device = pick_device(train.device)
    # the source's config (an ensemble's member count: _source_model builds a single-flow model)
    config = replace(FSFMConfig.from_dict(ck["config"]), count_pooled=True)

    def validate(h) -> dict[str, float]:
        return {"valid_ce": _mean_ce(h, x_va, n_va, device)}

    about = {"stage": "count refit", "source": dict(ck["training"]), "source_valid_ce": source_ce}
    extra = _kept_records(ck)
    command = command_line()
    output = os.fspath(output)

    def save_best(record: dict) -> None:  # the head being fitted is the model's
        state = {key: v.detach().cpu() for key, v in model.state_dict().items()}
        checkpoint.save(
            output,
            model="fastsim_fm",
            config=config.to_dict(),
            state_dict=state,
            normalisation={},
            dataset={**ck["dataset"], "count_refit_processes": families},
            training={**record, "command": command, **about},
            extra=extra,
        )

    return fit_checkpointed(
        output, resume, head, _count_loss, torch.utils.data.TensorDataset(x_tr, n_tr), validate,
        "valid_ce", replace(train, learning_rate=train.learning_rate or 1e-3), save_best, progress=progress,
    )


def refit_response(
    source: str | os.PathLike,
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    train: TrainConfig = TrainConfig(epochs=100, learning_rate=3e-4, patience=20, schedule="cosine"),
    gen_min_pt: float = 100.0,
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    exclude_events: np.ndarray | None = None,
    balance: bool = False,
    architecture: dict | None = None,
    balance_pt: float = 0.0,
    members: int = 1,
) -> dict:
    """Stage 2: train the jet-response flow of a trained :class:`FSFM` afresh, on its own.

    In the joint training the flow's validation NLL is lowest at the 6th epoch (shipped mixed
    model: 0.892, 0.954 by the 50th) while the flow-matching MSE keeps falling for all 50, so the epoch chosen on the summed loss leaves the
    flow either overfitted or undertrained (RESULTS.md §2: the mixed model's WW mass medians
    0.03–0.06 low). Here the flow alone is re-initialised and trained on the precomputed
    (gen jet, n) → response pairs of the same split, selected on its own validation NLL; the
    multiplicity head and the particle network are kept. The particle network is conditioned on
    the true response in training, so a better flow needs no change there. Fast: the features
    are computed once (the shipped mixed model's refit took 268 s on 2 cores), as in a two-stage
    CaloClouds-type fit (a global flow for the totals, then the point cloud). The source flow's
    validation NLL is recorded beside the new one (``training.stage1_valid_nll``).

    Args:
        source: the trained FSFM checkpoint (stage 1).
        data: the same HDF5 files it was trained on (checked against the checkpoint: the split
            is by event over the file list).
        output: the new checkpoint (``output.last.pt`` for resuming).
        train: loop settings for the flow.
        gen_min_pt, split_seed, exclude_events, balance: as for :func:`train_fastsim_fm`
            (``split_seed`` must be the checkpoint's).
        architecture: a new one for the flow, ``{"flow_transforms": 8, "flow_hidden": [256,
            256]}`` (:data:`RESPONSE_FLOW_KEYS` only; default: the checkpoint's); stored in the
            output's config.
        balance_pt: if > 0, weight each training jet's NLL by :func:`gen_pt_weights` with this
            cap (the sparse high-pT bins count up to ``balance_pt``× more); selection stays on the
            unweighted validation NLL.
        members: K > 1 fits K flows, member j exactly as a refit with seed ``train.seed + j``
            (each written to ``output.member{j}.pt``, kept; with ``resume`` finished members are
            skipped), then :func:`stack_response_flows` makes ``output`` their uniform mixture.
            Returns the last member's record.

    With ``substructure_response`` in ``architecture`` and a source without it, the response flow
    (or ensemble) is kept as it is and a substructure flow is fitted instead
    (:attr:`~hepgen.models.fastsim_fm.FSFMConfig.substructure_response`: Flow_1..4 reco − gen
    given the response context and the true response), with its normalisation from the training
    jets; one flow (``members`` 1).
    """
    from hepgen.errors import HepgenInputError

    if members < 1:
        raise HepgenInputError(f"--members must be at least 1, got {members}")
    if members > 1 and (architecture or {}).get("substructure_response") and not (
        checkpoint.load(source)["config"].get("substructure_response")
    ):
        raise HepgenInputError("--members: the substructure flow is fitted once (members 1); refit the response first")
    if members > 1:
        parts: list[str] = []
        record: dict = {}
        for j in range(members):
            part = f"{os.fspath(output)}.member{j}.pt"
            parts.append(part)
            done = checkpoint.load(part)["training"] if resume and os.path.exists(part) else {}
            if "time_s" in done:  # finished in an earlier run
                record = done
                continue
            record = refit_response(
                source, data, part, replace(train, seed=train.seed + j), gen_min_pt, split_seed,
                resume and os.path.exists(f"{part}.last.pt"), progress, exclude_events, balance,
                architecture, balance_pt,
            )
            if os.path.exists(f"{part}.last.pt"):  # finished: its "time_s" marks it for a resume
                os.remove(f"{part}.last.pt")
        stack_response_flows(parts, output)
        return record
    ck = _refit_source(source, data, split_seed, "--refit-response")
    unknown = sorted(set(architecture or {}) - set(RESPONSE_FLOW_KEYS))
    if unknown:
        raise HepgenInputError(
            f"--refit-response changes only the response flow ({', '.join(RESPONSE_FLOW_KEYS)}); "
            f"the checkpoint fixes {', '.join(unknown)}"
        )
    torch.manual_seed(train.seed)
    model = _source_model(ck)
    # a refit fits one flow (an ensemble source is refitted into a single flow)
    config = FSFMConfig.from_dict({**ck["config"], **(architecture or {}), "response_members": 1})
    fit_substructure = config.substructure_response and not model.config.substructure_response
    if fit_substructure:  # the source's response (an ensemble too) stays: its settings with it
        source_config = FSFMConfig.from_dict(ck["config"])  # (JSON lists read as the config's tuples)
        others = sorted(k for k in (architecture or {})
                        if k != "substructure_response" and getattr(config, k) != getattr(source_config, k))
        if others:
            raise HepgenInputError(
                f"fitting the substructure flow keeps the source's response: change {', '.join(others)} "
                "in a refit of its own"
            )
        config = replace(config, response_members=int(ck["config"].get("response_members", 1)))
    tr, va, families = _splits(data, config.n_particles, train, gen_min_pt, split_seed, exclude_events, balance)
    source_content = model.config.content
    if config.content and not source_content:  # a new input of the flow
        had_content = model.needs_pid  # particle_types: the count head's scale, kept
        model.config = replace(model.config, content=True)
        if not had_content:
            content = model.content(tr.gen, tr.gen_pid)
            assert content is not None  # config.content makes needs_pid true
            model.set_content_normalisation(content)
    elif model.config.content and not config.content:
        raise HepgenInputError(f"{source}: its response is conditioned on the particle content; refit with content")
    if model.config.substructure_response and config.content and not source_content:
        raise HepgenInputError(
            f"{source}: its substructure flow was fitted without the particle content in its context; "
            "add content to the response before the substructure flow"
        )
    if model.config.substructure_response and not config.substructure_response:
        raise HepgenInputError(f"{source}: it has a substructure flow; refit with substructure_response")
    if fit_substructure:  # the response is kept; the new flow draws the momentum flows given it
        with torch.no_grad():
            shifts = torch.cat([
                model._flow_shifts(tr.reco[i : i + 4096], model._gen_features(tr.gen[i : i + 4096])[0])
                for i in range(0, len(tr), 4096)
            ])
        model.add_substructure(shifts)

    ctx_tr, y_tr = _response_features(model, tr, fit_substructure)
    ctx_va, y_va = _response_features(model, va, fit_substructure)
    w_tr = gen_pt_weights(_gen_pt(tr.gen), balance_pt) if balance_pt > 0 else torch.ones(len(y_tr))
    flow = substructure_flow(config) if fit_substructure else response_flow(config)
    device = pick_device(train.device)

    def validate(f) -> dict[str, float]:
        return {"valid_nll": _mean_nll(lambda c, y: f(c).log_prob(y), ctx_va, y_va, device)}

    stage1 = dict(ck["training"])
    # the source flow's context has no content columns (they come last) if it had none
    src_ctx_va = ctx_va if source_content else ctx_va[:, : N_COND + 1]
    about: dict[str, object]
    if fit_substructure:
        # the source's record (and its ensemble's epoch histories) stays with the response it made
        about = {"stage": "substructure fit", "response": stage1}
        extra = _kept_records(ck)
    else:
        stage1_nll = _mean_nll(model.response_log_prob, src_ctx_va, y_va, "cpu")  # the source stays on the CPU
        about, extra = {"stage": "response refit", "stage1": stage1, "stage1_valid_nll": stage1_nll}, None
        model.response = response_flow(config)  # the architecture the new flow is saved into
    target = model.substructure if fit_substructure else model.response
    command = command_line()
    output = os.fspath(output)

    def save_best(record: dict) -> None:
        target.load_state_dict({key: v.detach().cpu() for key, v in flow.state_dict().items()})
        checkpoint.save(
            output,
            model="fastsim_fm",
            config=config.to_dict(),
            state_dict={key: v.detach().cpu() for key, v in model.state_dict().items()},
            normalisation={},
            dataset={**ck["dataset"], "response_refit_processes": families, "response_refit_balance_pt": balance_pt},
            training={**record, "command": command, **about},
            extra=extra,
        )

    train = replace(train, learning_rate=train.learning_rate or 3e-4)
    return fit_checkpointed(
        output, resume, flow, _response_loss, torch.utils.data.TensorDataset(ctx_tr, y_tr, w_tr), validate,
        "valid_nll", train, save_best, progress=progress,
    )


def cross_validate_response(
    source: str | os.PathLike,
    data: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    folds: int = 5,
    draws: int = 10,
    train: TrainConfig = TrainConfig(
        epochs=100, batch_size=512, learning_rate=3e-4, patience=20, schedule="cosine"
    ),
    gen_min_pt: float = 100.0,
    fold_seed: int = 0,
    exclude_events: np.ndarray | None = None,
    resume: bool = False,
    progress: bool = True,
    simulate: bool = False,
) -> dict[str, np.ndarray]:
    """K-fold cross-validation of the stage-2 response fit: every jet's response drawn from a
    flow that never saw its event.

    The shipped flows are judged on one 15% test split, where a response median carries ±0.01
    from the Delphes jets alone (boosted WW, 300–400 GeV: 1 100 jets). Here the jets of every
    file are split by event into ``folds`` folds; for each fold a single flow is fitted exactly as
    :func:`refit_response` fits one (same loss, loop and settings; selection on the NLL of 15% of
    the other folds' events), on the other folds, and draws ``draws`` responses for the held-out
    fold given the true reco multiplicity — as many held-out jets as the data hold. The particle
    network passes the drawn response through (output / target 1.0000, RESULTS.md §2), so these
    draws are the simulation's jet response; the source's particle network and multiplicity head
    are not refitted. Each fold's model is ``output_dir/fold{j}.pt`` (a loadable FSFM checkpoint;
    ``resume`` skips finished folds and continues an interrupted one).

    Args:
        source: a trained FSFM checkpoint (path or shipped name): its gen encoding and
            normalisation define the flow's data.
        data: HDF5 jet-pair files (any list; not tied to the source's split).
        output_dir: where the fold checkpoints go (created).
        folds, draws: number of folds and of response draws per held-out jet.
        train: the flow's training loop (default: the shipped refits').
        gen_min_pt, exclude_events: the jet selection, as in training.
        fold_seed: seed of the fold assignment.
        simulate: draw the responses from the full simulation instead (the source's particle
            network and multiplicity head with the fold's flow: sampled multiplicity, ODE,
            projections — the chain a user runs; its particle network did see the jets of its
            own training split).

    Returns:
        per jet: ``family`` (process family of its file), ``fold``, ``gen_pt``, ``gen_mass``,
        ``reco_pt``, ``reco_mass`` (the top-k constituents' jets, as the flow's targets) and
        ``pt_ratio`` / ``mass_ratio`` (draws, jets): the drawn reco/gen responses (masses
        floored at 0.1 GeV, as in the flow's targets); ``index``: each jet's row in the files'
        concatenated pairs (``JetPairDataset.index``).

    Example::

        >>> cv = cross_validate_response("fastsim_ww_pu50", files, "out/cv", folds=5)
        >>> np.median(cv["mass_ratio"][:, cv["gen_pt"] > 300])
    """
    from hepgen.data.datasets import fold_indices
    from hepgen.physics.kinematics import jet_features
    from hepgen.shipped import resolve_checkpoint

    ck = checkpoint.load(resolve_checkpoint(source))
    if ck["model"] != "fastsim_fm":
        from hepgen.errors import HepgenInputError

        raise HepgenInputError(f"{source}: a {ck['model']} checkpoint; cross-validation needs a fastsim_fm one")
    with torch.random.fork_rng():
        model = _source_model(ck)
    config = FSFMConfig.from_dict({**ck["config"], "response_members": 1})
    k = config.n_particles
    ds = JetPairDataset(data, "all", k=k, gen_min_pt=gen_min_pt, exclude_events=exclude_events)
    ctx, y = _response_features(model, ds)
    fold = fold_indices(ds.event_keys, folds, fold_seed)
    gj, rj = (jet_features(t[:, :k].double()).numpy() for t in (ds.gen, ds.reco))
    family = np.array([process_family(data[int(i)]) for i in ds.event_keys >> 48])
    ratios = np.empty((draws, len(ds), 2))
    os.makedirs(output_dir, exist_ok=True)
    device = pick_device(train.device)
    for j in range(folds):
        out = os.path.join(os.fspath(output_dir), f"fold{j}.pt")
        done = resume and os.path.exists(out) and "time_s" in checkpoint.load(out)["training"]
        torch.manual_seed(train.seed)
        flow = response_flow(config)  # a finished fold's weights are loaded into it below
        if not done:
            rest = np.flatnonzero(fold != j)
            inner = split_indices(ds.event_keys[rest], (0.85, 0.15, 0.0), fold_seed + 1 + j)
            a, b = (torch.from_numpy(rest[inner[s]]) for s in ("train", "valid"))

            def validate(f, b=b) -> dict[str, float]:
                return {"valid_nll": _mean_nll(lambda c, t: f(c).log_prob(t), ctx[b], y[b], device)}

            def save_best(record: dict, f=flow, out=out, j=j, a=a, b=b) -> None:
                model.response = f
                checkpoint.save(
                    out, model="fastsim_fm", config=config.to_dict(),
                    state_dict={key: v.detach().cpu() for key, v in model.state_dict().items()},
                    normalisation={},
                    dataset={**ck["dataset"], "files": [os.path.basename(os.fspath(p)) for p in data],
                             "cv": {"folds": folds, "fold": j, "fold_seed": fold_seed, "gen_min_pt": gen_min_pt,
                                    "n_train": len(a), "n_valid": len(b)}},
                    training={**record, "command": command_line(), "stage": f"response cross-validation, fold {j}"},
                )

            fit_checkpointed(
                out, resume and os.path.exists(f"{out}.last.pt"), flow, _response_loss,
                torch.utils.data.TensorDataset(ctx[a], y[a], torch.ones(len(a))), validate, "valid_nll",
                train, save_best, progress=progress,
            )
            if os.path.exists(f"{out}.last.pt"):
                os.remove(f"{out}.last.pt")
        flow.load_state_dict(
            {key[len("response."):]: v for key, v in checkpoint.load(out)["state_dict"].items() if key.startswith("response.")}
        )
        model.response = flow.cpu().eval()
        held_np = np.flatnonzero(fold == j)
        held, gsel = torch.from_numpy(held_np), gj[held_np]
        g = torch.Generator().manual_seed(train.seed + 1000 + j)
        with torch.no_grad():
            for d in range(draws):
                if simulate:
                    out_jet = np.concatenate([
                        jet_features(model.simulate(
                            ds.gen[held[i : i + 2048]], generator=g,
                            pid=ds.gen_pid[held[i : i + 2048]] if model.needs_pid else None,
                        ).double()).numpy()
                        for i in range(0, len(held), 2048)
                    ])
                    ratios[d, held_np] = np.stack(
                        [out_jet[:, 0] / gsel[:, 0], np.maximum(out_jet[:, 3], 0.1) / np.maximum(gsel[:, 3], 0.1)], 1
                    )
                    continue
                z = torch.randn(len(held), y.shape[1], generator=g)
                r = model._denorm("jet", model.response_sample(ctx[held], z)).exp()
                ratios[d, held_np] = r[:, :2].double().numpy()
    return {
        "family": family, "fold": fold, "gen_pt": gj[:, 0], "gen_mass": gj[:, 3],
        "reco_pt": rj[:, 0], "reco_mass": rj[:, 3], "pt_ratio": ratios[..., 0], "mass_ratio": ratios[..., 1],
        "index": ds.index,
    }


def stack_response_flows(sources: Sequence[str | os.PathLike], output: str | os.PathLike) -> dict:
    """One FSFM checkpoint whose jet response is the uniform mixture of the sources' flows
    (:class:`~hepgen.models.fastsim_fm.ResponseEnsemble`).

    The sources must be response refits of one model: the same particle network, multiplicity
    head, normalisation and settings, single flows of one architecture. The output keeps the
    first source's dataset record; its training record summarises every member's (their epoch
    histories are stored beside it, ``member_histories``, with stage 1's, ``stage1_history``).

    Args:
        sources: two or more single-flow checkpoints (paths or shipped names).
        output: the stacked checkpoint (refused if it is one of the sources).

    Returns:
        the output's ``training`` record.
    """
    from hepgen.errors import HepgenInputError
    from hepgen.shipped import resolve_checkpoint

    paths = [os.fspath(resolve_checkpoint(s)) for s in sources]
    if len(paths) < 2:
        raise HepgenInputError("stacking response flows needs at least two checkpoints")
    if any(os.path.abspath(p) == os.path.abspath(os.fspath(output)) for p in paths):
        raise HepgenInputError(f"{output}: write the ensemble to a new file, not over a member")
    cks = [checkpoint.load(p) for p in paths]
    first = cks[0]
    configs: list[dict | None] = [
        FSFMConfig.from_dict(ck["config"]).to_dict() if ck["model"] == "fastsim_fm" else None for ck in cks
    ]
    ref = {k: v for k, v in first["state_dict"].items() if not k.startswith("response.")}
    for p, ck, cfg in zip(paths, cks, configs):
        if cfg is None or cfg["response_members"] != 1:
            raise HepgenInputError(f"{p}: not a single-flow fastsim_fm checkpoint")
        if cfg != configs[0]:
            raise HepgenInputError(f"{p}: its settings differ from {paths[0]}'s")
        rest = {k: v for k, v in ck["state_dict"].items() if not k.startswith("response.")}
        if rest.keys() != ref.keys() or any(not torch.equal(v, ref[k]) for k, v in rest.items()):
            raise HepgenInputError(
                f"{p}: another particle network or multiplicity head than {paths[0]}'s — stack "
                "refits of one model only"
            )
    state = dict(ref)
    for j, ck in enumerate(cks):
        for k, v in ck["state_dict"].items():
            if k.startswith("response."):
                state[f"response.flows.{j}.{k[len('response.'):]}"] = v
    config = {**(configs[0] or {}), "response_members": len(cks)}
    with torch.random.fork_rng():  # the layout must load (built aside: no draw from the global stream)
        FSFM(FSFMConfig.from_dict(config)).load_state_dict(state)
    # the members' epoch histories go beside the training record, which a Runner carries to
    # every worker (kept small: a summary per member)
    training = {
        "stage": "response ensemble",
        "members": [
            {"source": os.path.basename(p), **{k: v for k, v in ck["training"].items() if k not in ("stage1", "history")}}
            for p, ck in zip(paths, cks)
        ],
        "stage1": {k: v for k, v in first["training"].get("stage1", {}).items() if k != "history"},
        "command": command_line(),
    }
    histories = [ck["training"].get("history", []) for ck in cks]
    checkpoint.save(
        output, model="fastsim_fm", config=config, state_dict=state,
        normalisation=first.get("normalisation", {}), dataset=first["dataset"], training=training,
        extra={"member_histories": histories, "stage1_history": first["training"].get("stage1", {}).get("history", [])},
    )
    return training
