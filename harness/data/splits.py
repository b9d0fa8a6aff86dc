"""Deterministic split generation shared by the embedded benchmark and custom datasets.

These functions implement the protocol definitions of ../shared/docs/methods.md §3 on any labelled video
list: base/novel = halves by number of training videos, K-shot draws per seed. They are pure functions of
their inputs and the seed, so the same call always writes the same split file.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

Entry = tuple  # (relative video path: str, label: int)


def videos_per_class(entries: Sequence[Entry]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for _, label in entries:
        counts[int(label)] += 1
    return dict(counts)


def base_novel_classes(entries: Sequence[Entry], class_names: Sequence[str]) -> tuple[list[int], list[int]]:
    """Base = the half (rounded up) of the classes with the most training videos; ties broken by class name.

    Returns (base label ids, novel label ids), each sorted by label id.
    """
    counts = videos_per_class(entries)
    order = sorted(range(len(class_names)), key=lambda c: (-counts.get(c, 0), class_names[c]))
    n_base = (len(class_names) + 1) // 2
    return sorted(order[:n_base]), sorted(order[n_base:])


def draw_k_shot(entries: Sequence[Entry], classes: Sequence[int], shots: int, seed: int) -> list[Entry]:
    """Draw ``shots`` videos per class in ``classes`` (all of them if a class has fewer), stable in the seed.

    The result keeps the input order of the drawn entries, so the written file is reproducible byte for byte.
    """
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, (_, label) in enumerate(entries):
        by_class[int(label)].append(index)
    rng = random.Random(f"k-shot:{seed}:{shots}")
    chosen: set[int] = set()
    for label in sorted(classes):
        pool = by_class.get(int(label), [])
        chosen.update(pool if len(pool) <= shots else rng.sample(pool, shots))
    return [entries[i] for i in sorted(chosen)]


def restrict(entries: Sequence[Entry], classes: Sequence[int]) -> list[Entry]:
    keep = set(int(c) for c in classes)
    return [e for e in entries if int(e[1]) in keep]


def relabel(entries: Sequence[Entry], classes: Sequence[int]) -> list[Entry]:
    """Map the label ids of ``classes`` (in the given order) to 0..len(classes)-1."""
    index = {int(c): i for i, c in enumerate(classes)}
    return [(path, index[int(label)]) for path, label in entries if int(label) in index]


def hold_out(entries: Sequence[Entry], fraction: float, seed: int) -> tuple[list[Entry], list[Entry]]:
    """Split a training list into (train, validation) with at least one validation video per class
    where the class has two or more videos. Used for checkpoint selection, never the test split."""
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, (_, label) in enumerate(entries):
        by_class[int(label)].append(index)
    rng = random.Random(f"hold-out:{seed}:{fraction}")
    held: set[int] = set()
    for label in sorted(by_class):
        pool = by_class[label]
        if len(pool) < 2:
            continue
        n = max(1, int(round(fraction * len(pool))))
        held.update(rng.sample(pool, min(n, len(pool) - 1)))
    train = [e for i, e in enumerate(entries) if i not in held]
    val = [e for i, e in enumerate(entries) if i in held]
    return train, val
