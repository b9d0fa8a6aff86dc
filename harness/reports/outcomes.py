"""Per-video outcomes of run records, the unit every table is computed from: an evaluation's accuracy and
per-video correctness (top-1 and direction within reversal pairs), means over seeds / splits with bootstrap CIs,
and the small record helpers the protocol tables share (grouping, lookup, unit order)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from . import stats
from ..errors import HarnessError
from .render import RESAMPLES, natural_key


def created_key(record: dict) -> tuple:
    """Sort key: creation time, then run_id (so equal times still give one deterministic winner)."""
    text = str(record.get("created_utc") or "")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        when = float("-inf")
    return when, text, str(record["run_id"])


@dataclass(frozen=True)
class Outcome:
    """One evaluation's result: accuracy, and per-video correctness aligned on sorted (video, label) keys.

    ``direction``: direction within reversal pairs as an Outcome of its own (over the videos whose class has its
    time-reversed partner in the class set), so the CI and McNemar code of top-1 applies to it unchanged; None
    when there is no value. ``has_direction``: the record carries ``metrics.direction_accuracy`` at all (even
    null), which decides whether a table shows a direction column.
    """

    acc: float
    n: int
    keys: tuple | None = None
    correct: np.ndarray | None = None
    direction: "Outcome | None" = None
    has_direction: bool = False


def outcome(evaluation: dict, where: str) -> Outcome:
    preds = evaluation.get("predictions") or []
    direction = _direction_outcome(evaluation, preds, where)
    has_direction = "direction_accuracy" in (evaluation.get("metrics") or {})
    if preds:
        try:
            rows = sorted((str(p["video"]), int(p["label"]), int(p["pred"])) for p in preds)
        except (KeyError, TypeError, ValueError):
            raise HarnessError(f"{where}: predictions need 'video', 'label' and 'pred'") from None
        correct = np.array([label == pred for _, label, pred in rows], dtype=bool)
        return Outcome(float(correct.mean()), len(rows), tuple((v, lab) for v, lab, _ in rows), correct, direction,
                       has_direction)
    metrics = evaluation.get("metrics") or {}
    if "top1" not in metrics:
        raise HarnessError(f"{where}: evaluation has neither predictions nor metrics.top1")
    return Outcome(float(metrics["top1"]), int(metrics.get("n_videos") or 0), direction=direction,
                   has_direction=has_direction)


def _direction_outcome(evaluation: dict, preds: list, where: str) -> Outcome | None:
    """Per-video ``direction`` booleans (videos without the key have no partner class and do not count)."""
    if "direction_accuracy" not in (evaluation.get("metrics") or {}):
        return None
    rows = []
    for p in preds:
        flag = p.get("direction") if isinstance(p, dict) else None
        if flag is None:
            continue
        if not isinstance(flag, bool):
            raise HarnessError(f"{where}: prediction 'direction' must be true or false, got {flag!r}")
        rows.append((str(p.get("video")), int(p.get("label", -1)), flag))
    if rows:
        rows.sort()
        flags = np.array([f for *_, f in rows], dtype=bool)
        return Outcome(float(flags.mean()), len(rows), tuple((v, lab) for v, lab, _ in rows), flags)
    value = evaluation["metrics"]["direction_accuracy"]
    return None if value is None else Outcome(float(value), 0)


def seed_mean(outs: list[Outcome]) -> tuple[float, float | None, float | None]:
    """(mean over seeds/splits, 95 % CI low, high): bootstrap over videos when every unit has per-video data
    (seeds on one list share each draw), else the plain mean without a CI."""
    if all(o.keys is not None for o in outs):
        return stats.bootstrap_mean_ci([o.correct for o in outs], RESAMPLES, 0.95, 0, same_videos=same_videos(outs))
    return float(np.mean([o.acc for o in outs])), None, None


def direction_mean(outs: list[Outcome]) -> tuple[float, float | None, float | None] | None:
    """``seed_mean`` of the units' direction outcomes (those that have one); None when none has."""
    dirs = [o.direction for o in outs if o.direction is not None]
    return seed_mean(dirs) if dirs else None


def nested_mean(nested: list[list[Outcome]]) -> tuple[float, float | None, float | None]:
    """Mean over outer units (splits, K) of the mean over their seeds, with its 95 % bootstrap CI (None without
    per-video data)."""
    flat = [o for inner in nested for o in inner]
    if all(o.keys is not None for o in flat):
        return stats.bootstrap_nested_mean_ci([[o.correct for o in inner] for inner in nested], RESAMPLES, 0.95, 0,
                                              same_videos=same_videos(flat))
    return float(np.mean([np.mean([o.acc for o in inner]) for inner in nested])), None, None


def plot_point(method: str, dataset: str, nested: list[list[Outcome]]) -> dict:
    """A plot point: ``nested_mean`` of one method on one dataset."""
    value, low, high = nested_mean(nested)
    return {"method": method, "dataset": dataset, "value": value, "low": low, "high": high}


def same_videos(outcomes: list[Outcome]) -> bool:
    return all(o.keys is not None for o in outcomes) and len({o.keys for o in outcomes}) == 1


def pairable(a: Outcome | None, b: Outcome | None) -> bool:
    return a is not None and b is not None and a.keys is not None and a.keys == b.keys


def where_of(rec: dict, ev_name: str = "") -> str:
    return f"{rec['_path']}" + (f" evaluation {ev_name!r}" if ev_name else "")


def group_by(records: list[dict], key) -> dict:
    groups = defaultdict(list)
    for rec in records:
        groups[key(rec)].append(rec)
    return groups


def find_eval(rec: dict, name: str) -> dict | None:
    return next((ev for ev in rec["evaluations"] if ev.get("name") == name), None)


def seed_of(rec: dict):
    return (rec.get("unit") or {}).get("seed")


def sort_units(keys):
    return sorted(keys, key=lambda k: (k is None, natural_key(str(k))))


def has_direction(units) -> bool:
    return any(o.has_direction for o in units)
