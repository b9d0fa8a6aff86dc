"""The contract every method fulfils (see docs/architecture.md): an mmengine ``BaseModel`` over an open_clip
CLIP, with a switchable class set and cached text features.

Subclasses override what their official code changes: ``video_embeddings`` (temporal modelling),
``encode_text`` (text-side modules), ``logits`` (video-conditioned text), ``loss`` and ``param_groups``.
At test time scores are ``scores_from_encoding(video_encoding(videos))``: the first half does not depend on
the class set, so the runner can reuse it across repeated evaluations (:mod:`harness.models.feature_cache`).
"""
from __future__ import annotations

import random
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from .models.backbones import create_clip, get_tokenizer, preprocess_cfg
from .models.preprocess import VideoPreprocessor

NORMALISATION = {
    # CLIP's own statistics (ActionCLIP, EZ-CLIP, the frozen baseline) and ImageNet's (X-CLIP, ViFi-CLIP).
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def kl_contrastive_loss(logits_per_video: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ActionCLIP's symmetric KL loss (inherited by EZ-CLIP), ``utils/KLLoss.py``.

    The target of row i is softmax(10·G_i) with G[i, k] = 1 when samples i and k share a class; each
    direction is ``KLDivLoss(mean) × batch size``; the two directions are averaged.
    """
    same = (labels[:, None] == labels[None, :]).float()
    target = F.softmax(10 * same, dim=1)
    batch = logits_per_video.shape[0]

    def one_direction(logits):  # nn.KLDivLoss(reduction="mean"): the mean over all elements, × batch
        return (target * (target.log() - F.log_softmax(logits, dim=1))).mean() * batch

    return (one_direction(logits_per_video) + one_direction(logits_per_video.t())) / 2


def soft_target_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy over the class set with label smoothing (X-CLIP / ViFi-CLIP's SoftTargetCrossEntropy)."""
    return F.cross_entropy(logits, labels, label_smoothing=smoothing)


class VideoCLIPMethod(BaseModel):
    """Base of every method: a CLIP, a frame count, a text recipe and the current class set."""

    #: official normalisation of the method (overridable by config ``normalization``)
    default_normalization = "clip"
    #: mmengine writes one entry per parameter ("Initialized by user-defined init_weights", ~500 lines for a
    #: ViT-B) into the training log when the runner initialises the model; the runner sets this from
    #: ``runtime.log_init_info`` (default off): the weights come from the backbone, the dump says nothing new.
    log_init_info = False

    def _dump_init_info(self):
        if self.log_init_info:
            super()._dump_init_info()

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None, **unused):
        if unused:
            raise TypeError(f"{type(self).__name__} got unknown options: {', '.join(sorted(unused))}")
        backbone = dict(backbone or {})
        clip = create_clip(**backbone)
        cfg = preprocess_cfg(clip)
        normalization = normalization or self.default_normalization
        mean, std = NORMALISATION[normalization] if normalization != "backbone" else (cfg["mean"], cfg["std"])
        super().__init__(data_preprocessor=VideoPreprocessor(mean=mean, std=std, frames=frames))
        self.clip = clip
        self.backbone_name = clip.harness_backbone["name"]
        self.backbone_info = dict(clip.harness_backbone, input_size=cfg["size"], normalization=normalization)
        self.frames = int(frames)
        self.input_size = cfg["size"]
        self.text_cfg = dict(source="names", templates=["{}"], train_template="random")
        self.text_cfg.update(text or {})
        self.tokenizer = get_tokenizer(self.backbone_name)
        self.class_names: list[str] = []
        self.descriptions: dict[str, str] | None = None
        self._text_cache: torch.Tensor | None = None
        self.feature_cache = None  # a FeatureCache, set by the runner for evaluations
        self.feature_cache_scope = ""  # the method's options (set by the runner): same weights, other code path
        self._weights_fingerprint: str | None = None
        self._batch_key: str | None = None

    # ----------------------------------------------------------------- class set and text
    def set_class_names(self, class_names: Sequence[str], descriptions: dict[str, str] | None = None) -> None:
        """Switch the class set; text features are recomputed once, on first use."""
        class_names, descriptions = list(class_names), dict(descriptions) if descriptions else None
        if self.text_cfg["source"] == "descriptions" and not descriptions:
            raise ValueError("text.source is 'descriptions' but the dataset provides no class descriptions; "
                             "use --cfg-options model.text.source=names")
        if class_names == self.class_names and descriptions == self.descriptions:
            return  # same class set: keep the cached text features (repeated evaluations reuse them)
        self.class_names, self.descriptions = class_names, descriptions
        self._text_cache = None

    def class_phrase(self, index: int) -> str:
        name = self.class_names[index]
        if self.text_cfg["source"] == "descriptions":
            return self.descriptions.get(name, name)
        return name

    def prompts(self, template: str) -> list[str]:
        return [template.format(self.class_phrase(i)) for i in range(len(self.class_names))]

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self._device())

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Projected, unnormalised text embeddings (N, D). Methods with text-side modules override."""
        return self.clip.encode_text(tokens)

    def text_features(self, template: str | None = None) -> torch.Tensor:
        """Normalised class text features (C, D) for one template (the first when none is given)."""
        template = template if template is not None else self.text_cfg["templates"][0]
        return F.normalize(self.encode_text(self.tokenize(self.prompts(template))), dim=-1)

    def all_template_features(self) -> torch.Tensor:
        """(P, C, D) for the P test templates; cached while the model is in eval mode."""
        if self.training or torch.is_grad_enabled():
            return torch.stack([self.text_features(t) for t in self.text_cfg["templates"]])
        if self._text_cache is None:
            self._text_cache = torch.stack([self.text_features(t) for t in self.text_cfg["templates"]])
        return self._text_cache

    def train_text_features(self) -> torch.Tensor:
        """Text features for a training step: one template, random per step when several are configured."""
        templates = self.text_cfg["templates"]
        template = random.choice(templates) if self.text_cfg.get("train_template") == "random" else templates[0]
        return self.text_features(template)

    def train(self, mode: bool = True):
        if mode:  # weights may change in training: never reuse text features or video encodings across it
            self._text_cache = None
            self._weights_fingerprint = None
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._text_cache = None
        self._weights_fingerprint = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # ----------------------------------------------------------------- video side
    def encode_frames(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) → (B, T, D) projected frame embeddings, frames encoded independently."""
        batch, frames = videos.shape[:2]
        return self.clip.encode_image(videos.flatten(0, 1)).view(batch, frames, -1)

    def video_embeddings(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) → (B, D), unnormalised. Default: plain mean over frames."""
        return self.encode_frames(videos).mean(dim=1)

    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale.exp()

    def logits(self, videos: torch.Tensor, text_features: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C) scaled cosine similarities against the current class set."""
        video = F.normalize(self.video_embeddings(videos), dim=-1)
        text = text_features if text_features is not None else self.all_template_features()[0]
        return self.logit_scale() * video @ text.t()

    def video_encoding(self, videos: torch.Tensor):
        """What the test scores need from the video side, independent of the class set (default: the
        embeddings). A tensor or a tuple of tensors with the batch first; cacheable across evaluations."""
        return self.video_embeddings(videos)

    def scores_from_encoding(self, encoding) -> torch.Tensor:
        """(B, C) probabilities for one view; averaged over the test templates (ActionCLIP's test rule)."""
        video = F.normalize(encoding, dim=-1)
        scale = self.logit_scale()
        per_template = [F.softmax(scale * video @ t.t(), dim=-1) for t in self.all_template_features()]
        return torch.stack(per_template).mean(dim=0)

    def class_scores(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, C) probabilities for one view of a batch of videos."""
        return self.scores_from_encoding(self.video_encoding(videos))

    # ----------------------------------------------------------------- encoding reuse (feature cache)
    def weights_fingerprint(self, refresh: bool = False) -> str:
        """Content hash of every parameter and buffer; recomputed after training, after loading weights and
        whenever ``refresh`` is asked (the runner refreshes it at the start of every evaluation, so weights
        changed any other way can never be served stale encodings)."""
        if refresh or self._weights_fingerprint is None:
            from .models.feature_cache import weights_fingerprint

            self._weights_fingerprint = weights_fingerprint(self)
        return self._weights_fingerprint

    def _view_encoding(self, videos: torch.Tensor, view: int):
        cache, key = self.feature_cache, self._batch_key
        if cache is None or key is None or self.training:
            return self.video_encoding(videos)
        full_key = (type(self).__qualname__, self.feature_cache_scope, self.weights_fingerprint(), key, view)
        encoding = cache.get(full_key, videos.device)
        if encoding is None:
            encoding = self.video_encoding(videos)
            cache.put(full_key, encoding)
        return encoding

    def _keyed_step(self, step, data):
        if self.feature_cache is not None:
            from .models.feature_cache import batch_key

            self._batch_key = batch_key(data["inputs"])
        try:
            return step(data)
        finally:
            self._batch_key = None

    def test_step(self, data):
        return self._keyed_step(super().test_step, data)

    def val_step(self, data):
        return self._keyed_step(super().val_step, data)

    # ----------------------------------------------------------------- training
    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        """Default: cross-entropy of the class logits (methods override with their official loss)."""
        return {"loss_cls": F.cross_entropy(self.logits(videos, self.train_text_features()), labels)}

    def param_groups(self, base_lr: float, weight_decay: float) -> list[dict]:
        """Optimizer groups: every trainable parameter at ``base_lr``. Methods add their multipliers."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [dict(params=params, lr=base_lr, weight_decay=weight_decay)] if params else []

    def freeze_all_but(self, predicate) -> None:
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(bool(predicate(name)))

    def parameter_counts(self) -> dict:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return dict(total_params=int(total), trainable_params=int(trainable))

    # ----------------------------------------------------------------- official checkpoints
    #: regexes of names (or "container:" entries) only this method's official checkpoints hold; used to say
    #: "this looks like a checkpoint of M" when a file is given to the wrong --method
    OFFICIAL_SIGNATURE: tuple[str, ...] = ()

    def official_layout(self):
        """How the authors' code saves this method (``harness.models.checkpoints.OfficialLayout``), for the options
        this model was built with; None when the method has no official checkpoints."""
        return None

    # ----------------------------------------------------------------- mmengine modes
    def _device(self) -> torch.device:
        return next(self.clip.parameters()).device

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = "tensor"):
        """``inputs``: (B, V, T, 3, H, W) from :class:`VideoPreprocessor` (V = clips × crops)."""
        if mode == "loss":
            labels = torch.stack([s.gt_label.reshape(-1)[0] for s in data_samples]).to(inputs.device).long()
            return self.loss(inputs[:, 0], labels)
        if mode == "predict":
            scores = torch.stack([self.scores_from_encoding(self._view_encoding(inputs[:, v], v))
                                  for v in range(inputs.shape[1])]).mean(0)
            for sample, score in zip(data_samples, scores):
                sample.set_pred_score(score.detach())
                sample.set_pred_label(score.argmax().reshape(1))
            return data_samples
        return self.logits(inputs[:, 0])
