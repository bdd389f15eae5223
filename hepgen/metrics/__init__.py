"""Evaluation metrics, plain functions with an explicit ``seed``.

- :mod:`distances` — W1, symmetrised KLD, EMD_sum (seeds 000 §4, 001 §6);
- :mod:`jetnet` — W1M, W1P, W1EFP, FPD, KPD, COV, MMD (Kansal et al., PRD 107 076017);
- :mod:`detector` — fast-sim fidelity per jet feature, response and resolution;
- :mod:`floor` — the same metrics between two disjoint halves of the real sample.
"""
