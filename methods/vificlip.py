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
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.method import VideoCLIPMethod

DEFAULT_TEXT = dict(source="names", templates=["a photo of a {}."], train_template="first")
DEFAULT_MIXUP = dict(enabled=True, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5)
VARIANTS = ("both", "image", "text")
TEXT_TOWER_PREFIXES = ("clip.transformer.", "clip.positional_embedding", "clip.ln_final.", "clip.text_projection")


def cutmix_mixup(videos: torch.Tensor, targets: torch.Tensor, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 switch_prob: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """X-CLIP / ViFi-CLIP ``CutmixMixupBlending.do_blending`` on (B, T, 3, H, W) videos and (B, C) soft targets.

    With probability ``switch_prob`` CutMix (one box, the same for every frame; λ corrected to the box area),
    otherwise Mixup; the partner of each sample is a random permutation of the batch. Returns new tensors.
    """
    batch = videos.shape[0]
    permutation = torch.randperm(batch, device=videos.device)
    if torch.rand(()).item() < switch_prob:
        lam = torch.distributions.Beta(cutmix_alpha, cutmix_alpha).sample().item()
        height, width = videos.shape[-2:]
        cut = (1.0 - lam) ** 0.5
        cut_w, cut_h = int(width * cut), int(height * cut)
        cx, cy = int(torch.randint(width, ())), int(torch.randint(height, ()))
        x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        videos = videos.clone()
        videos[..., y1:y2, x1:x2] = videos[permutation][..., y1:y2, x1:x2]
        lam = 1.0 - (x2 - x1) * (y2 - y1) / float(width * height)
    else:
        lam = torch.distributions.Beta(mixup_alpha, mixup_alpha).sample().item()
        videos = lam * videos + (1.0 - lam) * videos[permutation]
    return videos, lam * targets + (1.0 - lam) * targets[permutation]


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
