"""Batch preparation: uint8 frames from mmaction2's pipeline → normalised float videos (B, V, T, 3, H, W).

It lives in the model (mmengine's ``data_preprocessor``) so normalisation follows the method (CLIP vs
ImageNet statistics) and moves to the device with it.
"""
from __future__ import annotations

import torch
from mmengine.model import BaseDataPreprocessor


class VideoPreprocessor(BaseDataPreprocessor):
    def __init__(self, mean, std, frames: int):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, 1, 3, 1, 1) * 255, False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 1, 1, 3, 1, 1) * 255, False)
        self.frames = int(frames)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data["inputs"]
        videos = torch.stack(list(inputs)) if isinstance(inputs, (list, tuple)) else inputs
        # mmaction2 FormatShape('NCHW') packs (views·T, 3, H, W) per video.
        batch, stacked = videos.shape[:2]
        if stacked % self.frames:
            raise ValueError(f"a video came with {stacked} frames, not a multiple of frames={self.frames}")
        videos = videos.view(batch, stacked // self.frames, self.frames, *videos.shape[2:]).float()
        videos = (videos - self.mean) / self.std
        return dict(inputs=videos, data_samples=data.get("data_samples"))
