"""Accuracy with per-video predictions kept, so any two runs on the same videos can be compared later.

mmaction2's ``AccMetric`` keeps only aggregates; this metric keeps (video, label, top-k, scores) per video
and lists skipped videos instead of scoring them.
"""
from __future__ import annotations

import numpy as np
from mmengine.evaluator import BaseMetric

from ..registry import METRICS


def accuracy_summary(labels: np.ndarray, scores: np.ndarray, topk: int = 5) -> dict:
    """top-1, top-k and mean per-class accuracy (over classes present in ``labels``)."""
    if len(labels) == 0:
        return dict(top1=float("nan"), top5=float("nan"), mean_class_accuracy=float("nan"), n_videos=0)
    k = min(topk, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")
    top1 = order[:, 0] == labels
    topk_hit = (order[:, :k] == labels[:, None]).any(axis=1)
    per_class = [top1[labels == c].mean() for c in np.unique(labels)]
    return dict(top1=float(top1.mean()), top5=float(topk_hit.mean()), mean_class_accuracy=float(np.mean(per_class)),
                n_videos=int(len(labels)))


@METRICS.register_module()
class VideoPredictionMetric(BaseMetric):
    default_prefix = "video"

    def __init__(self, topk: int = 5, partners: list[int] | None = None, collect_device: str = "cpu",
                 prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = topk
        self.partners = list(partners) if partners and any(p >= 0 for p in partners) else None

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            meta = sample.metainfo if hasattr(sample, "metainfo") else sample
            get = (lambda k, d=None: meta.get(k, d))
            label = sample.gt_label if hasattr(sample, "gt_label") else sample["gt_label"]
            label = int(np.asarray(label.cpu() if hasattr(label, "cpu") else label).reshape(-1)[0])
            if get("skipped", False):
                self.results.append(dict(video=get("video"), label=label, skipped=True, reason=get("skip_reason")))
                continue
            score = sample.pred_score if hasattr(sample, "pred_score") else sample["pred_score"]
            score = np.asarray(score.detach().cpu().float() if hasattr(score, "detach") else score, dtype=np.float64)
            self.results.append(dict(video=get("video"), label=label, scores=score))

    def compute_metrics(self, results: list) -> dict:
        scored = [r for r in results if not r.get("skipped")]
        labels = np.array([r["label"] for r in scored], dtype=np.int64)
        scores = np.stack([r["scores"] for r in scored]) if scored else np.zeros((0, 1))
        summary = accuracy_summary(labels, scores, self.topk)
        k = min(self.topk, scores.shape[1]) if scored else 0
        predictions, directions = [], []
        for r in scored:
            order = np.argsort(-r["scores"], kind="stable")[:k]
            prediction = dict(video=r["video"], label=r["label"], pred=int(order[0]), topk=[int(i) for i in order],
                              topk_scores=[round(float(r["scores"][i]), 6) for i in order])
            partner = self.partners[r["label"]] if self.partners else -1
            if partner >= 0:  # the true class against its time reversal (harness/data/pairs.py)
                prediction["direction"] = bool(r["scores"][r["label"]] > r["scores"][partner])
                directions.append(prediction["direction"])
            predictions.append(prediction)
        if self.partners:
            summary["direction_accuracy"] = float(np.mean(directions)) if directions else float("nan")
        skipped = [dict(video=r["video"], reason=r["reason"]) for r in results if r.get("skipped")]
        # mmengine logs scalars; the full lists travel in a side channel read by the runner.
        self.last_details = dict(predictions=predictions, skipped=skipped)
        return summary
