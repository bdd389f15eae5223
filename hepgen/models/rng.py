"""zuko samples from torch's global RNG; this runs such code on a forked RNG seeded from a
``torch.Generator`` so that sampling stays reproducible and leaves global state untouched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded_from(generator: torch.Generator | None) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        if generator is not None:
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        yield
