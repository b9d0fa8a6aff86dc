"""ViFi-CLIP (muzairkhattak/ViFi-CLIP, ``trainers/vificlip.py``, ``main.py``, ``utils/config.py``; methods.md
§1.4, §2.4): full fine-tuning of CLIP on videos, no added modules.

Every frame goes through the CLIP image encoder, the projected CLS embeddings are averaged over frames, and the
cosine against the class texts "a photo of a {}." is scaled by exp(logit_scale). The loss is X-CLIP's
soft-target cross-entropy over the class set with label smoothing 0.1 and Mixup 0.8 / CutMix 1.0 (switch
probability 0.5, ``datasets/blending.py: CutmixMixupBlending``). ImageNet normalisation.

Trainable set (``returnCLIP``): ``both`` = everything the ViFi model holds (both towers and ``logit_scale``);
the token-embedding table is not in it, because ``VLPromptLearner`` computes the token embeddings once, under
``no_grad``, and keeps them as a buffer. ``image`` = the visual tower only; ``text`` = the text transformer,
its positional embedding, ``ln_final`` and ``text_projection`` only.
"""
from __future__ import annotations

import torch

from harness.augment import cutmix_mixup, smoothed_one_hot  # noqa: F401  (re-exported)
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.method import VideoCLIPMethod

DEFAULT_TEXT = dict(source="names", templates=["a photo of a {}."], train_template="first")
DEFAULT_MIXUP = dict(enabled=True, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5)
VARIANTS = ("both", "image", "text")
TEXT_TOWER_PREFIXES = ("clip.transformer.", "clip.positional_embedding", "clip.ln_final.", "clip.text_projection")


def smoothed_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """X-CLIP's one-hot with smoothing: off = s / C, on = 1 − s + s / C."""
    off = smoothing / num_classes
    targets = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    return targets.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off)


class ViFiCLIP(VideoCLIPMethod):
    """ViFi-CLIP: fine-tuned CLIP, mean over frames. ``variant``: ``both`` (ViFi-CLIP), ``image`` (CLIP
    image-FT) or ``text`` (CLIP text-FT). ``label_smoothing`` 0.1; ``mixup`` as in :data:`DEFAULT_MIXUP`."""

    default_normalization = "imagenet"

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None, variant: str = "both", label_smoothing: float = 0.1,
                 mixup: dict | None = None):
        super().__init__(backbone=backbone, frames=frames, text={**DEFAULT_TEXT, **(text or {})},
                         normalization=normalization)
        if variant not in VARIANTS:
            raise HarnessError(f"ViFi-CLIP variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        unknown = set(mixup or {}) - set(DEFAULT_MIXUP)
        if unknown:
            raise HarnessError(f"unknown ViFi-CLIP mixup option(s) {', '.join(sorted(unknown))}; valid: "
                               f"{', '.join(DEFAULT_MIXUP)}")
        self.variant = variant
        self.label_smoothing = float(label_smoothing)
        self.mixup = {**DEFAULT_MIXUP, **(mixup or {})}
        if variant == "both":
            trainable = lambda name: "token_embedding" not in name  # noqa: E731
        elif variant == "image":
            trainable = lambda name: name.startswith("clip.visual.")  # noqa: E731
        else:  # the text tower without its token table (open_clip's CLIP flattens it; CustomTextCLIP has .text)
            trainable = lambda name: (name.startswith(TEXT_TOWER_PREFIXES)  # noqa: E731
                                      or (name.startswith("clip.text.") and "token_embedding" not in name))
        self.freeze_all_but(trainable)

    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        num_classes = len(self.class_names)
        targets = smoothed_one_hot(labels, num_classes, self.label_smoothing)
        if self.mixup["enabled"] and self.training:
            videos, targets = cutmix_mixup(videos, targets, self.mixup["mixup_alpha"], self.mixup["cutmix_alpha"],
                                           self.mixup["switch_prob"])
        logits = self.logits(videos, self.train_text_features())
        return {"loss_cls": torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()}
