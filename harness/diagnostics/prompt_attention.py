"""EZ-CLIP's temporal-prompt attention, per layer and per class: how much the frame tokens attend to the appended
temporal token in the spatial attention, and how the temporal token of each frame attends across the T frames.

Captured by forward pre-hooks on the visual ``EZBlock``s that recompute the two attention maps with the block's
own frozen ``ln_1`` / ``attn`` under ``no_grad`` (in eval mode the block is deterministic), so the model's
outputs are exactly what they are without the hooks (tested)."""
from __future__ import annotations

import contextlib
from collections import defaultdict

import numpy as np
import torch

from ..errors import HarnessError


def prompt_blocks(model) -> list:
    """The visual blocks that carry a temporal prompt (EZ-CLIP with ``prompts`` on), else a HarnessError."""
    transformer = getattr(getattr(getattr(model, "clip", None), "visual", None), "transformer", None)
    if transformer is None or not hasattr(transformer, "T_prompt_embeddings"):
        raise HarnessError(f"{type(model).__name__} has no temporal prompts (the attention analysis is for EZ-CLIP "
                           "with model.prompts=true); choose --method ezclip or an ezclip variant with prompts")
    return list(transformer.resblocks)


class AttentionCapture:
    """Per class sums of the two maps for every layer; ``labels`` is set per batch by a model pre-hook."""

    def __init__(self, layers: int, frames: int):
        self.layers, self.frames = layers, frames
        self.labels: list[int] | None = None
        self.to_temporal = defaultdict(lambda: np.zeros((layers, frames)))            # (layer, frame)
        self.across_frames = defaultdict(lambda: np.zeros((layers, frames, frames)))  # (layer, query, key)
        self.counts = defaultdict(lambda: np.zeros(layers))

    def add(self, layer: int, to_temporal: torch.Tensor, across: torch.Tensor) -> None:
        if self.labels is None or len(self.labels) != to_temporal.shape[0]:
            return
        for label, row, grid in zip(self.labels, to_temporal.cpu().numpy(), across.cpu().numpy()):
            self.to_temporal[label][layer] += row
            self.across_frames[label][layer] += grid
            self.counts[label][layer] += 1

    def summary(self, class_names: list[str]) -> dict:
        rows = []
        for label in sorted(self.counts):
            n = np.maximum(self.counts[label], 1)
            rows.append(dict(label=int(label), class_name=class_names[label], views=int(self.counts[label][0]),
                             to_temporal=np.round(self.to_temporal[label] / n[:, None], 6).tolist(),
                             across_frames=np.round(self.across_frames[label] / n[:, None, None], 6).tolist()))
        return dict(layers=self.layers, frames=self.frames, classes=rows)


def _block_hook(collector: AttentionCapture, layer: int):
    def hook(block, args, kwargs):
        prompt = kwargs.get("prompt")
        if prompt is None or not args:
            return None
        x = args[0]
        with torch.no_grad():
            frames = prompt.shape[0]
            batch_frames, length, width = x.shape
            tokens = x.view(batch_frames // frames, frames, length, width).mean(dim=2) + prompt.unsqueeze(0)
            normed = block.ln_1(tokens)
            _, across = block.attn(normed, normed, normed, need_weights=True, average_attn_weights=True)
            full = torch.cat([x, block.temporal_token(x, prompt)], dim=1)
            normed = block.ln_1(full)
            mask = kwargs.get("attn_mask")
            _, spatial = block.attn(normed, normed, normed, need_weights=True, average_attn_weights=True,
                                    attn_mask=None if mask is None else mask.to(normed.dtype))
            to_temporal = spatial[:, :length, length].mean(dim=1).view(-1, frames)  # (B, T)
        collector.add(layer, to_temporal.float(), across.float())
        return None
    return hook


@contextlib.contextmanager
def capture(model):
    """While active, every forward pass adds its per-layer attention maps to the yielded collector."""
    blocks = prompt_blocks(model)
    collector = AttentionCapture(len(blocks), int(model.frames))

    def labels_hook(module, args, kwargs):
        samples = kwargs.get("data_samples")
        collector.labels = None if samples is None else [int(s.gt_label.reshape(-1)[0]) for s in samples]
        return None

    handles = [model.register_forward_pre_hook(labels_hook, with_kwargs=True)]
    handles += [block.register_forward_pre_hook(_block_hook(collector, i), with_kwargs=True)
                for i, block in enumerate(blocks)]
    try:
        yield collector
    finally:
        for handle in handles:
            handle.remove()
