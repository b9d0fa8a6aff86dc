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

from harness.models.augment import cutmix_mixup, smoothed_one_hot  # noqa: F401  (re-exported)
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

    # ----------------------------------------------------------------- official checkpoints
    OFFICIAL_SIGNATURE = (r"^(module\.)?image_encoder\.", r"^(module\.)?text_encoder\.", r"^(module\.)?prompt_learner\.")

    def official_layout(self):
        """``utils/tools.py: epoch_saving`` saves ``{'model': model.state_dict(), ...}`` of the DDP-wrapped
        ``trainers/vificlip.py: ViFiCLIP`` (names start with ``module.``): ``image_encoder`` = CLIP ``visual``,
        ``text_encoder`` = the CLIP text transformer, ``positional_embedding``, ``ln_final`` and
        ``text_projection``; ``logit_scale``; ``prompt_learner.complete_text_embeddings`` = the training class
        names' prompts embedded once with the frozen token table, which is itself not in the file."""
        from harness.models.checkpoints import OfficialLayout, Section, rules

        prompts = "the prompt token embeddings of the training class names, fixed at build time (the official " \
                  "loader deletes them too); the harness embeds the current class names"
        return OfficialLayout(
            method="vificlip", name="ViFi-CLIP main.py checkpoint",
            source="muzairkhattak/ViFi-CLIP: utils/tools.py (epoch_saving, load_checkpoint), trainers/vificlip.py",
            sections=(Section("model", rules(("image_encoder.", "clip.visual."),
                                             ("text_encoder.transformer.", "clip.transformer."),
                                             ("text_encoder.positional_embedding", "clip.positional_embedding"),
                                             ("text_encoder.ln_final.", "clip.ln_final."),
                                             ("text_encoder.text_projection", "clip.text_projection"),
                                             ("logit_scale", "clip.logit_scale")), wrapper="module."),),
            dropped=((r"prompt_learner\.complete_text_embeddings", prompts),),
            from_backbone=((r"clip\.token_embedding\.weight", "ViFi-CLIP files hold no token table: the frozen one "
                            "of the CLIP it was fine-tuned from"),),
            unsupported=((r"prompt_learner\.(ctx|token_prefix|token_suffix)|.*VPT.*",
                          "the learned prompts of ViFi-CLIP's VL-prompting ('bridge and prompt') stage"),))

    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        num_classes = len(self.class_names)
        targets = smoothed_one_hot(labels, num_classes, self.label_smoothing)
        if self.mixup["enabled"] and self.training:
            videos, targets = cutmix_mixup(videos, targets, self.mixup["mixup_alpha"], self.mixup["cutmix_alpha"],
                                           self.mixup["switch_prob"])
        logits = self.logits(videos, self.train_text_features())
        return {"loss_cls": torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()}
