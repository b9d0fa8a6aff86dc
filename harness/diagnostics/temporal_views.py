"""Frame-order views: the same sampled frames fed to the model in order, reversed, shuffled (fixed seed) or with
one frame (the middle) repeated T times. The permutation is applied to the preprocessed (B, V, T, 3, H, W) tensor
by a forward hook on the model's data preprocessor, so decoding, sampling and the model code are untouched."""
from __future__ import annotations

import contextlib

import numpy as np

from ..errors import HarnessError

FRAME_VIEWS = ("in_order", "reversed", "shuffled", "repeated")
SHUFFLE_SEED = 0


def view_indices(view: str, frames: int, seed: int = SHUFFLE_SEED) -> list[int]:
    """Frame indices (length ``frames``) the model sees for ``view``.

    ``shuffled`` draws a permutation with ``numpy.random.RandomState(seed)``; draws equal to the in-order or the
    reversed order (possible for small T) are redrawn from the same generator, so the view really is a shuffle.
    """
    order = list(range(frames))
    if view == "in_order":
        return order
    if view == "reversed":
        return order[::-1]
    if view == "repeated":
        return [frames // 2] * frames
    if view == "shuffled":
        rng = np.random.RandomState(seed)
        for _ in range(100):
            drawn = [int(i) for i in rng.permutation(frames)]
            if frames < 3 or (drawn != order and drawn != order[::-1]):
                return drawn
        return drawn
    raise HarnessError(f"unknown frame view {view!r}; choose from {', '.join(FRAME_VIEWS)}")


@contextlib.contextmanager
def frame_view(model, view: str, seed: int = SHUFFLE_SEED):
    """While active, every batch the model's preprocessor emits has its frames reordered as ``view`` says."""
    indices = view_indices(view, int(model.frames), seed)
    if indices == list(range(int(model.frames))):
        yield indices
        return

    def reorder(module, args, output):
        inputs = output["inputs"]
        return dict(output, inputs=inputs[:, :, indices])

    handle = model.data_preprocessor.register_forward_hook(reorder)
    try:
        yield indices
    finally:
        handle.remove()
