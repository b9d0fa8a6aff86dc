"""Reversal pairs: classes that differ only by the direction of time or motion ("... left to right" /
"... right to left"). For them the telling score is *direction within the pair*: among the videos of a
class whose partner is in the same class set, how often the true class outscores its partner (chance 50 %).
A frame-averaging model cannot beat chance there however well it knows the pair.

Partners come from the embedded benchmark's own pairing (``toy-temporal``) or, for real datasets such as
Something-Something-v2, from names that become each other when their direction words are swapped.
"""
from __future__ import annotations

import re
from typing import Sequence

#: direction words that turn one class name into its reversal (applied both ways, whole words)
DIRECTION_SWAPS = (("left", "right"), ("up", "down"), ("clockwise", "counterclockwise"),
                   ("appearing", "disappearing"), ("towards", "away from"), ("into", "out of"),
                   ("opening", "closing"), ("closer", "away"))


def _swapped(name: str) -> str:
    table = {}
    for a, b in DIRECTION_SWAPS:
        table[a], table[b] = b, a
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, table), key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda m: table[m.group(1)], name.lower())


def reversal_partners(class_names: Sequence[str]) -> list[int]:
    """For each class, the index of its reversal partner in ``class_names``, or -1 when it has none there."""
    names = list(class_names)
    try:
        from .embedded import temporal_pair_ids

        pair_ids = temporal_pair_ids(names)
        return [next((j for j, q in enumerate(pair_ids) if q == p and j != i), -1) for i, p in enumerate(pair_ids)]
    except KeyError:  # not the embedded temporal classes: pair by swapped direction words
        pass
    index = {name.lower(): i for i, name in enumerate(names)}
    partners = []
    for i, name in enumerate(names):
        j = index.get(_swapped(name), -1)
        partners.append(j if j != i else -1)
    return partners
