"""zuko samples from torch's global RNG; this runs such code on a forked RNG seeded from a
``torch.Generator`` so that sampling stays reproducible and leaves global state untouched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded_from(generator: torch.Generator | None) -> Iterator[None]:
    """Run the body on torch's global RNGs seeded from ``generator`` (a CPU or CUDA generator),
    restoring them afterwards; with ``generator=None`` the body draws from the global RNGs."""
    # the CUDA RNG is forked too (zuko samples on the model's device), when CUDA is in use
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if cuda else []):
        if generator is not None:
            seed = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)
            torch.manual_seed(int(seed))
        yield
