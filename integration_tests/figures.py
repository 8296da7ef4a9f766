"""Counts the reliability tests add up (faults injected, records fuzzed), printed at the end of the run for the
README's reliability figures."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()


def count(what: str, amount: int) -> None:
    FIGURES[what] += amount
