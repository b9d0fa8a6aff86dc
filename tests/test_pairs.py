"""Direction within reversal pairs: partners by the embedded pairing or swapped direction words, and the
metric that scores the true class against its reversal."""
from __future__ import annotations

import numpy as np
import pytest

from harness.engine.metrics import VideoPredictionMetric
from harness.data.pairs import reversal_partners


def test_partners_of_the_embedded_temporal_classes_and_of_ssv2_like_names():
    from harness.data.embedded import TEMPORAL_NAMES

    names = list(TEMPORAL_NAMES.values())
    partners = reversal_partners(names)
    assert all(partners[partners[i]] == i and partners[i] != i for i in range(len(names)))
    ssv2 = ["Pushing something from left to right", "Pushing something from right to left",
            "Moving something up", "Holding something", "Moving something down"]
    assert reversal_partners(ssv2) == [1, 0, 4, -1, 2]
    assert reversal_partners(names[:1] + ["a red circle"]) == [-1, -1]  # partner absent from this class set


def _metric(partners, rows):
    metric = VideoPredictionMetric(topk=2, partners=partners)
    for index, (label, scores) in enumerate(rows):
        metric.results.append(dict(video=f"v{index}.mp4", label=label, scores=np.array(scores, dtype=float)))
    return metric, metric.compute_metrics(metric.results)


def test_direction_accuracy_compares_the_true_class_with_its_reversal_only():
    # classes 0 ↔ 1 are a pair, 2 has none: the third video's wrong top-1 does not count for direction
    partners = [1, 0, -1]
    metric, summary = _metric(partners, [(0, [0.2, 0.1, 0.7]),   # top-1 wrong, direction right
                                         (1, [0.6, 0.3, 0.1]),   # top-1 wrong, direction wrong
                                         (2, [0.5, 0.4, 0.1])])  # no partner
    assert summary["top1"] == 0.0
    assert summary["direction_accuracy"] == pytest.approx(0.5)
    assert [p.get("direction") for p in metric.last_details["predictions"]] == [True, False, None]


def test_no_direction_score_without_pairs():
    _, summary = _metric(None, [(0, [0.9, 0.1])])
    assert "direction_accuracy" not in summary
    _, summary = _metric([-1, -1], [(0, [0.9, 0.1])])
    assert "direction_accuracy" not in summary
