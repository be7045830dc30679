"""Seeded split of agents into train/val/test, so that no agent appears in two splits."""

from __future__ import annotations

import numpy as np

from theta_cli.core.layout import SPLITS


def split_counts(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Agents per split: largest remainder of n * fraction, and at least one agent for every
    split with a positive fraction whenever there are enough agents (taken from the largest);
    with fewer agents than such splits, train, then val, get one."""
    raw = [n * f for f in fractions]
    counts = [int(np.floor(x)) for x in raw]
    by_remainder = sorted(range(3), key=lambda i: (raw[i] - counts[i], -i), reverse=True)
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    wanted = [i for i in range(3) if fractions[i] > 0]  # train always (a positive fraction)
    if n < len(wanted):
        # Too few agents for every split: one each, train first.
        return [1 if i in wanted[:n] else 0 for i in range(3)]
    for i in wanted:
        if counts[i] == 0:  # pigeonhole: the largest split has >= 2 here
            donor = max(range(3), key=lambda j: counts[j])
            counts[donor] -= 1
            counts[i] += 1
    return counts


def split_agents(
    agents: list[str], fractions: tuple[float, float, float], seed: int
) -> dict[str, str]:
    """Map each agent to a split. Depends only on the set of agents, the fractions and seed."""
    ordered = sorted(agents)
    perm = np.random.default_rng([seed, 0]).permutation(len(ordered))
    counts = split_counts(len(ordered), fractions)
    out: dict[str, str] = {}
    pos = 0
    for name, c in zip(SPLITS, counts, strict=True):
        for j in perm[pos : pos + c]:
            out[ordered[int(j)]] = name
        pos += c
    return out
