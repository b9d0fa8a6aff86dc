"""Sample size and minimum detectable difference for results/README.md: per compared evaluation, the videos it
has and the gain the exact McNemar test can detect there, so "no mark" is not read as "no difference"."""
from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np

from . import stats
from .loading import PROTOCOLS
from .outcomes import outcome
from .render import ALPHA, DASH, natural_key
from .zero_shot import zs_target


DETECT_EXAMPLE = 0.10  # README: paired videos needed to detect a gain of this size (10 points)


def _compared_evaluations(protocol: str, rec: dict):
    """(row, column, evaluation) for each evaluation of ``rec`` that the protocol's tests compare."""
    if protocol == "base2novel":
        for name, column in (("base", "B"), ("novel", "N")):
            ev = next((e for e in rec["evaluations"] if e.get("name") == name), None)
            if ev is not None:
                yield rec["dataset"], column, ev
    elif protocol == "zero_shot":
        # grouped by target only: the tables compare every method on a target (frozen clip, trained on nothing,
        # has no source), so a row per source would split one comparison in two
        for ev in rec["evaluations"]:
            yield zs_target(ev)[0], "top-1 (per split)", ev
    elif protocol == "few_shot":
        ev = next((e for e in rec["evaluations"] if e.get("name") == "test"), None)
        if ev is None and len(rec["evaluations"]) == 1:
            ev = rec["evaluations"][0]
        if ev is not None:
            yield rec["dataset"], f"K={(rec.get('unit') or {}).get('shots')}", ev


@lru_cache(maxsize=None)
def _mdd(n: int, base: float) -> float | None:
    return stats.min_detectable_difference(n, base)


@lru_cache(maxsize=None)
def _n_for_10(base: float) -> int | None:
    return stats.n_for_difference(DETECT_EXAMPLE, base) if base + DETECT_EXAMPLE <= 1 else None


def sample_sizes(by_protocol: dict[str, list[dict]]) -> list[dict]:
    """Per compared (protocol, row, column): test videos per evaluation, evaluations pooled per test, the median
    measured accuracy, and the exact-McNemar minimum detectable difference there (harness.reports.stats, 80 % power)."""
    out = []
    for protocol in PROTOCOLS:
        groups: dict = defaultdict(lambda: defaultdict(list))  # (row, column) → method → [Outcome]
        for rec in by_protocol.get(protocol, []):
            for row, column, ev in _compared_evaluations(protocol, rec):
                groups[(row, column)][rec["method"]].append(outcome(ev, rec["_path"]))
        for (row, column) in sorted(groups, key=lambda k: (k[0], natural_key(k[1]))):
            by_method = groups[(row, column)]
            sizes = sorted({o.n for outs in by_method.values() for o in outs})
            units = min(len(outs) for outs in by_method.values())
            base = float(np.median([np.mean([o.acc for o in outs]) for outs in by_method.values()]))
            n = sizes[0]  # the smallest list: the conservative figure
            out.append({"protocol": protocol, "row": row, "column": column, "sizes": sizes, "units": units,
                        "methods": len(by_method), "base": base, "mdd_one": _mdd(n, base) if n else None,
                        "mdd_pooled": _mdd(n * units, base) if n else None, "n_for_10": _n_for_10(base)})
    return out


def power_lines(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    pp = lambda d: f"> {100:.0f}" if d is None else f"{100 * d:.1f}"  # noqa: E731
    lines = ["## Sample size and minimum detectable difference", "",
             f"What the tables' accuracy tests can detect: exact McNemar, two-sided, α = {ALPHA}, on paired videos, "
             f"at {100 * stats.POWER:.0f} % power (`harness/reports/stats.py`). *Accuracy* is the median over methods "
             "of each method's mean over its evaluations; the minimum detectable difference (MDD) is the "
             "smallest gain over that accuracy the test finds with 80 % power, on the smallest video list. "
             "Assumption: the two methods' errors are independent given their accuracies (discordant rate "
             "pA(1−pB) + pB(1−pA)); methods that fail on the same videos have fewer discordant pairs and a smaller "
             "MDD, so these figures err on the large side. *Pooled* is the test as the tables run it, over all "
             "evaluations per comparison (seeds, splits); seeds evaluated on the same videos are not independent "
             "pairs, so the pooled MDD is optimistic and the one-evaluation MDD is the safe reading. Base-to-"
             "novel HM is compared by paired bootstrap and is not covered here.", "",
             "| table | row | evaluation | test videos per evaluation | evaluations per test | methods "
             "| accuracy (%) | MDD, one evaluation (pp) | MDD, pooled (pp) "
             f"| paired videos for a {100 * DETECT_EXAMPLE:.0f}-point gain |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sizes = str(r["sizes"][0]) if len(r["sizes"]) == 1 else f"{r['sizes'][0]}–{r['sizes'][-1]}"
        need = DASH if r["n_for_10"] is None else f"{r['n_for_10']:,}"
        lines.append(f"| {r['protocol']} | {r['row']} | {r['column']} | {sizes} | {r['units']} | {r['methods']} "
                     f"| {100 * r['base']:.1f} | {pp(r['mdd_one'])} | {pp(r['mdd_pooled'])} | {need} |")
    lines.append("")
    return lines
