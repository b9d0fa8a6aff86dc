"""Frozen CLIP baseline: every frame encoded independently by a frozen CLIP, frame embeddings averaged.

This is "vanilla CLIP" zero-shot evaluation as the video-CLIP papers report it (e.g. ViFi-CLIP's ``ZS_EVAL``,
the ``meanP`` fusion of ActionCLIP without training). Nothing is trainable, so the engine skips training
(``trainable_params == 0``) and the run record has ``training: null``.

Text: one prompt per class, "a photo of a {}." by default (CLIP's own ImageNet prompt; configurable through
``text.templates``, several templates are averaged at test time as ActionCLIP does).
"""
from __future__ import annotations

from harness.method import VideoCLIPMethod

DEFAULT_TEXT = dict(source="names", templates=["a photo of a {}."], train_template="first")


class FrozenCLIP(VideoCLIPMethod):
    """Frozen open_clip CLIP; video = plain mean of the per-frame projected CLS embeddings."""

    default_normalization = "clip"

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None):
        super().__init__(backbone=backbone, frames=frames, text={**DEFAULT_TEXT, **(text or {})},
                         normalization=normalization)
        self.freeze_all_but(lambda name: False)

    def official_layout(self):
        """The frozen baseline's official weights are OpenAI's CLIP state dict (names kept by open_clip under
        ``clip.``). OpenAI's released ``.pt`` files are TorchScript archives: give those with --pretrained."""
        from harness.models.checkpoints import OPENAI_CLIP, OfficialLayout, Section, openai_fp16

        return OfficialLayout(
            method="clip", name="OpenAI CLIP state dict", source="openai/CLIP: clip/model.py (CLIP.state_dict)",
            sections=(Section(None, OPENAI_CLIP, half=openai_fp16),),
            dropped=((r"input_resolution|context_length|vocab_size", "a scalar of the TorchScript archive, not a "
                      "weight"),))

    def train(self, mode: bool = True):
        # Nothing learns: keep the CLIP in eval mode even inside a training loop (no dropout anywhere).
        super().train(mode)
        self.clip.eval()
        return self
