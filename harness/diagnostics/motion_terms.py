"""The two terms of EZ-CLIP's motion loss (``methods.ezclip.motion_loss``) per video, on the frame embeddings a
method produces: central difference C = mean over (T, D) of |e_{t+1} − e_{t−1}| / 2 with edge replication, and
frame variance V = mean over D of the unbiased variance over T. Measured for every method (not only EZ-CLIP) so
one can see whether the motion loss moves the frame embeddings more than other methods' training does.

Frame embeddings are captured where each method forms them: the input of X-CLIP's multi-frame integration
transformer (``mit``: per-frame CLS after cross-frame communication), otherwise ``encode_frames`` (B, T, D).
Both the raw terms (what the loss sees) and the terms on L2-normalised embeddings (comparable across methods
whose embedding norms differ) are kept."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F


def per_video_terms(frame_embeddings: torch.Tensor) -> dict[str, np.ndarray]:
    """(B, T, D) → dict(central, variance, central_normalised, variance_normalised), each (B,)."""
    from methods.ezclip import motion_term_maps

    out = {}
    for suffix, e in (("", frame_embeddings.float()), ("_normalised", F.normalize(frame_embeddings.float(), dim=-1))):
        central, variance = motion_term_maps(e)
        out["central" + suffix] = central.mean(dim=(1, 2)).cpu().numpy()
        out["variance" + suffix] = variance.mean(dim=1).cpu().numpy()
    return out


class MotionTermsCapture:
    """Collects the per-video motion terms of every encoded view while active (see :func:`capture`)."""

    def __init__(self):
        self.values: dict[str, list[float]] = {k: [] for k in TERMS}

    def add(self, frame_embeddings: torch.Tensor) -> None:
        if frame_embeddings.ndim != 3 or frame_embeddings.shape[1] < 2:
            return
        for key, values in per_video_terms(frame_embeddings.detach()).items():
            self.values[key].extend(float(v) for v in values)

    def summary(self) -> dict:
        return {key: [round(v, 8) for v in values] for key, values in self.values.items()}


TERMS = ("central", "variance", "central_normalised", "variance_normalised")


@contextlib.contextmanager
def capture(model):
    """Record the frame embeddings of every forward pass of ``model`` (outputs unchanged)."""
    collector = MotionTermsCapture()
    mit = getattr(model, "mit", None)
    if isinstance(mit, torch.nn.Module):
        handle = mit.register_forward_pre_hook(lambda module, args: collector.add(args[0]))
        try:
            yield collector
        finally:
            handle.remove()
        return
    original = model.encode_frames

    def encode_frames(*args, **kwargs):
        embeddings = original(*args, **kwargs)
        collector.add(embeddings)
        return embeddings

    model.encode_frames = encode_frames  # instance attribute: shadows the method, removed afterwards
    try:
        yield collector
    finally:
        del model.encode_frames
