"""The ``hepgen`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hepgen import __version__


def _build_dataset(args: argparse.Namespace) -> int:
    from hepgen.data.build import Selection, build

    base = Selection.gluon() if args.preset == "gluon" else Selection.ww()
    sel = Selection(
        R=args.R if args.R is not None else base.R,
        k=args.n_particles if args.n_particles is not None else base.k,
        reco_min_pt=args.reco_min_pt if args.reco_min_pt is not None else base.reco_min_pt,
        gen_min_pt=args.gen_min_pt if args.gen_min_pt is not None else base.gen_min_pt,
        max_eta=args.max_eta if args.max_eta is not None else base.max_eta,
        max_jets=args.max_jets if args.max_jets is not None else base.max_jets,
    )
    pairs = build(args.inputs, args.output, sel, step_size=args.step_size, progress=not args.quiet)
    print(f"wrote {len(pairs)} jet pairs from {pairs.attrs['events']} events to {args.output}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hepgen",
        description="Machine-learned fast simulation and generation of LHC jets, for coffea analyses.",
    )
    p.add_argument("--version", action="version", version=f"hepgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build-dataset", help="ROOT files → matched gen/reco jet pairs (HDF5)")
    b.add_argument("inputs", nargs="+", type=Path, help="Delphes or PFNanoAOD ROOT files")
    b.add_argument("-o", "--output", required=True, type=Path)
    b.add_argument(
        "--preset", choices=["ww", "gluon"], default="ww", help="defaults of the shared sets"
    )
    b.add_argument("--R", type=float, default=None, help="jet radius (ww 0.5, gluon 0.8)")
    b.add_argument("--n-particles", type=int, default=None, help="constituents kept per jet (k)")
    b.add_argument("--reco-min-pt", type=float, default=None)
    b.add_argument("--gen-min-pt", type=float, default=None)
    b.add_argument("--max-eta", type=float, default=None)
    b.add_argument("--max-jets", type=int, default=None)
    b.add_argument("--step-size", type=int, default=200, help="events per chunk (bounds memory)")
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=_build_dataset)

    from hepgen import commands

    commands.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from hepgen.io.root import HepgenInputError

    args = make_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HepgenInputError as exc:
        print(f"hepgen: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
