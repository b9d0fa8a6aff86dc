"""A method defined outside the package, as a user would write one: frozen CLIP + learned frame weights.

Registered by importing this module (``python -m harness --plugin tests.plugins.frame_weights run ...``).
"""
from pathlib import Path

import torch
import torch.nn.functional as F

from harness import register_method
from harness.method import VideoCLIPMethod


class FrameWeightsCLIP(VideoCLIPMethod):
    """Frozen CLIP; the video embedding is a learned softmax-weighted average of its frame embeddings."""

    def __init__(self, **options):
        super().__init__(**options)
        self.freeze_all_but(lambda name: False)
        self.frame_logits = torch.nn.Parameter(torch.zeros(self.frames))

    def video_embeddings(self, videos):
        weights = F.softmax(self.frame_logits, dim=0)
        return (self.encode_frames(videos) * weights[None, :, None]).sum(dim=1)


register_method("frame-weights", "tests.plugins.frame_weights:FrameWeightsCLIP",
                config=Path(__file__).with_suffix(".yaml"))
