"""X-CLIP (Ni et al., ECCV 2022, arXiv 2208.02816), rebuilt on an open_clip CLIP from microsoft/VideoX
``X-CLIP/models/{xclip,cct,mit,prompt}.py``, ``utils/optimizer.py``, ``utils/config.py``, ``main.py``.

- **Cross-frame Communication Transformer** (``cct.py``): every visual block of the CLIP ViT is replaced by a
  block that reuses the CLIP block's own LayerNorms, attention and MLP (fine-tuned) and adds ``message_fc``
  (Linear width→width on each frame's CLS), ``message_ln`` + ``message_attn`` (self-attention over the T message
  tokens of a video, residual); each frame's message token is appended to that frame's tokens for the spatial
  attention and dropped before the MLP. The encoder returns CLS → ln_post → proj and the raw patch tokens.
- **Multi-frame Integration Transformer** (``mit.py``): temporal position embedding (1×T×D, trunc-normal 0.02)
  + ``mit_layers`` pre-LN blocks (1, the ``xclip.load`` default ``main.py`` uses), residual, mean over T.
- **Video-specific Prompt generator** (``prompt.py``): patch tokens → ``prompts_visual_ln`` →
  ``@ prompts_visual_proj`` (width→D), mean over frames → LayerNorm → 2 × [text-query cross-attention + MLP],
  scaled by a learnable per-channel α (init 0.1) and added to every class text embedding, per video.
- Text tower and logit_scale frozen (``MODEL.FIX_TEXT``), text features of the class names (template "{}")
  cached; loss = soft-target cross-entropy with label smoothing 0.1 (Mixup 0.8 / CutMix 1.0 optional);
  AdamW groups: CLIP visual at LR, ``message_*`` / ``mit`` / ``prompts*`` at 10×LR, weight decay 0.001 except
  1-D parameters, biases and positional embeddings.

Departures from the official code are listed in ``DEPARTURES``.
"""
from __future__ import annotations

import random
from collections import OrderedDict

import torch

from harness.models.augment import cutmix_mixup, smoothed_one_hot
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.method import VideoCLIPMethod

#: ``utils/config.py``: AUG.MIXUP 0.8, AUG.CUTMIX 1.0, AUG.MIXUP_SWITCH_PROB 0.5 (``CutmixMixupBlending``)
DEFAULT_MIXUP = dict(enabled=True, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5)

DEPARTURES = (
    "Heads of MIT, the prompt generator = max(1, D // 64) (official D // 64, 0 for D < 64); message attention "
    "heads = the CLIP block's own head count (official width // 64, identical for OpenAI ViTs).",
    "DropPath (rate 0 in every official config) drops per sample; the official DropPath, applied in "
    "sequence-first layout, drops per token position.",
    "Mixup/CutMix runs inside the model's loss on the normalised batch (official: in the training loop, also "
    "after normalisation); the mixup/cutmix switch uses torch's RNG instead of numpy's.",
    "Text features are cached per class set (recomputed when the class set changes, at each train()/eval() "
    "switch and on device change); the official cache is filled once and never reset.",
    "Scores use bmm instead of einsum (identical values; countable by every FLOP tool).",
    "logits(videos, text_features) and train_text_features() use UNNORMALISED class text features (the prompt "
    "generator's queries are the raw text embeddings), unlike the base class's normalised ones.",
    "Attention runs batch-first (same weights and values as the official sequence-first layout); fp32, no AMP.",
    "The embedded benchmark config turns Mixup/CutMix off (72 steps are too few to learn through it).",
)


# ---------------------------------------------------------------------------------------------- helpers
class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class DropPath(nn.Module):
    """Stochastic depth per sample (timm semantics)."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


def _trunc_normal_linear_init(module: nn.Module) -> None:
    """``_init_weights`` of ``mit.py`` / ``prompt.py``: Linear trunc-normal 0.02 and zero bias, LayerNorm 1/0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.zeros_(module.bias)
        nn.init.ones_(module.weight)


# ---------------------------------------------------------------------------------------------- CCT
class CrossFrameAttentionBlock(nn.Module):
    """``cct.py: CrossFramelAttentionBlock`` built around an open_clip ``ResidualAttentionBlock``.

    The CLIP block's submodules are adopted under their own names (``ln_1``, ``attn``, ``ls_1``, ``ln_2``,
    ``mlp``, ``ls_2``) so parameter names stay those of the CLIP; the new ``message_*`` modules are added.
    Input and output are batch-first ``(B·T, L, width)``, frames of a video consecutive.
    """

    def __init__(self, block: nn.Module, frames: int, drop_path: float = 0.0):
        super().__init__()
        for part in ("ln_1", "attn", "ln_2", "mlp"):
            if not hasattr(block, part):
                raise HarnessError(f"X-CLIP needs open_clip ResidualAttentionBlock visual blocks; "
                                f"{type(block).__name__} has no {part!r}")
        if hasattr(block, "ln_1_kv"):
            raise HarnessError("X-CLIP does not support cross-attention visual blocks")
        if not isinstance(block.attn, nn.MultiheadAttention) or not block.attn.batch_first:
            raise HarnessError("X-CLIP needs batch-first nn.MultiheadAttention in the visual blocks")
        self.frames = int(frames)
        width, heads = block.attn.embed_dim, block.attn.num_heads
        self.ln_1 = block.ln_1
        self.attn = block.attn
        self.ls_1 = getattr(block, "ls_1", nn.Identity())
        self.ln_2 = block.ln_2
        self.mlp = block.mlp
        self.ls_2 = getattr(block, "ls_2", nn.Identity())
        # new modules: torch default initialisation, as the official code (no init is applied to them)
        self.message_fc = nn.Linear(width, width)
        self.message_ln = type(block.ln_1)(width)
        self.message_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def get_weight_dtype(self) -> torch.dtype:  # open_clip's Transformer.get_cast_dtype asks the first block
        return self.mlp.c_fc.weight.dtype

    def forward(self, q_x: torch.Tensor, k_x=None, v_x=None, attn_mask: torch.Tensor | None = None):
        x = q_x
        frames_total, length, width = x.shape
        if frames_total % self.frames:
            raise ValueError(f"X-CLIP block got {frames_total} images, not a multiple of frames={self.frames}")
        batch = frames_total // self.frames
        message = self.message_fc(x[:, 0]).view(batch, self.frames, width)
        normed = self.message_ln(message)
        message = message + self.drop_path(self.message_attn(normed, normed, normed, need_weights=False)[0])
        x = torch.cat([x, message.reshape(frames_total, 1, width)], dim=1)
        if attn_mask is not None:
            attn_mask = attn_mask.to(x.dtype)
        h = self.ln_1(x)
        x = x + self.drop_path(self.ls_1(self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]))
        x = x[:, :length]
        return x + self.drop_path(self.ls_2(self.mlp(self.ln_2(x))))


# ---------------------------------------------------------------------------------------------- MIT
class MITBlock(nn.Module):
    """``mit.py: ResidualAttentionBlock`` (nn.LayerNorm, QuickGELU MLP 4×), batch first."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class MultiframeIntegrationTransformer(nn.Module):
    """``mit.py``: (B, T, D) → (B, D)."""

    def __init__(self, frames: int, embed_dim: int, layers: int = 1):
        super().__init__()
        heads = max(1, embed_dim // 64)
        self.positional_embedding = nn.Parameter(torch.empty(1, frames, embed_dim))
        nn.init.trunc_normal_(self.positional_embedding, std=0.02)
        self.resblocks = nn.Sequential(*[MITBlock(embed_dim, heads) for _ in range(layers)])
        self.apply(_trunc_normal_linear_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        original = x
        x = self.resblocks(x + self.positional_embedding)
        return (x.to(original.dtype) + original).mean(dim=1)


# ---------------------------------------------------------------------------------------------- prompts
class CrossAttention(nn.Module):
    """``prompt.py: MulitHeadAttention``: q/k/v Linear without bias, output projection with bias."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        batch, queries, dim = q.shape
        keys = k.shape[1]
        q = self.q_proj(q).reshape(batch, queries, self.heads, dim // self.heads).transpose(1, 2)
        k = self.k_proj(k).reshape(batch, keys, self.heads, dim // self.heads).transpose(1, 2)
        v = self.v_proj(v).reshape(batch, keys, self.heads, dim // self.heads).transpose(1, 2)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(batch, queries, dim)
        return self.proj_drop(self.proj(x))


class PromptGeneratorLayer(nn.Module):
    """``prompt.py: PromptGeneratorLayer``: x += CrossAttn(norm1(x), visual); x += MLP(norm3(x))."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.cross_attn = CrossAttention(dim, heads, dropout=dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), QuickGELU(), nn.Dropout(dropout), nn.Linear(dim * 4, dim))

    def forward(self, x: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        q = self.norm1(x)
        x = x + self.cross_attn(q, visual, visual)
        return x + self.dropout(self.mlp(self.norm3(x)))


class VideoSpecificPrompt(nn.Module):
    """``prompt.py: VideoSpecificPrompt``: (B, C, D) text, (B, N, D) visual context → α·prompt (B, C, D)."""

    def __init__(self, embed_dim: int, layers: int = 2, alpha: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(embed_dim)
        self.decoder = nn.ModuleList([PromptGeneratorLayer(embed_dim, max(1, embed_dim // 64))
                                      for _ in range(layers)])
        self.alpha = nn.Parameter(torch.ones(embed_dim) * alpha)
        self.apply(_trunc_normal_linear_init)

    def forward(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        visual = self.norm(visual)
        for layer in self.decoder:
            text = layer(text, visual)
        return self.alpha * text


# ---------------------------------------------------------------------------------------------- mixup
def mixup_cutmix(videos: torch.Tensor, labels: torch.Tensor, num_classes: int, smoothing: float,
                 mixup_alpha: float, cutmix_alpha: float, switch_prob: float):
    """``datasets/blending.py: CutmixMixupBlending``: smoothed one-hot targets, then CutMix or Mixup."""
    targets = smoothed_one_hot(labels, num_classes, smoothing).to(videos.dtype)
    return cutmix_mixup(videos, targets, mixup_alpha, cutmix_alpha, switch_prob)


# ---------------------------------------------------------------------------------------------- method
class XCLIP(VideoCLIPMethod):
    """X-CLIP: cross-frame communication ViT + MIT + video-specific prompts, frozen cached text."""

    default_normalization = "imagenet"
    #: substrings of the parameters trained at ``new_module_lr_ratio``·LR (``utils/optimizer.py``)
    FAST_KEYWORDS = ("message_", "mit", "prompts")
    #: substrings of parameters without weight decay (``no_weight_decay_keywords``), besides 1-D and biases
    NO_DECAY_KEYWORDS = ("positional_embedding",)

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None, mit_layers: int = 1, prompt_layers: int = 2,
                 prompt_alpha: float = 0.1, drop_path: float = 0.0, label_smoothing: float = 0.1,
                 mixup: dict | bool | None = None, new_module_lr_ratio: float = 10.0, **unused):
        """``mixup``: None or True = the official Mixup 0.8 / CutMix 1.0 / switch 0.5 (:data:`DEFAULT_MIXUP`);
        False or ``{enabled: false}`` = label-smoothed cross-entropy only."""
        text = dict(text or {})
        text.setdefault("templates", ["{}"])
        text.setdefault("train_template", "first")
        super().__init__(backbone=backbone, frames=frames, text=text, normalization=normalization, **unused)
        visual = self.clip.visual
        if getattr(visual, "attn_pool", None) is not None:
            raise HarnessError("X-CLIP needs a plain CLIP ViT; the backbone's visual tower has an attention pooler")
        if getattr(visual, "pool_type", "tok") != "tok" or getattr(visual, "final_ln_after_pool", False):
            raise HarnessError("X-CLIP needs a CLIP ViT pooled by its class token (pool_type 'tok')")
        if not getattr(visual.transformer, "batch_first", True):
            raise HarnessError("X-CLIP needs a batch-first open_clip visual transformer")
        blocks = visual.transformer.resblocks
        width = int(visual.class_embedding.shape[-1])
        embed_dim = int(visual.output_dim)
        rates = torch.linspace(0, drop_path, len(blocks)).tolist() if drop_path > 0 else [0.0] * len(blocks)
        for index, block in enumerate(list(blocks)):
            blocks[index] = CrossFrameAttentionBlock(block, self.frames, rates[index])
        self.mit = MultiframeIntegrationTransformer(self.frames, embed_dim, layers=int(mit_layers))
        self.prompts_generator = VideoSpecificPrompt(embed_dim, layers=int(prompt_layers), alpha=float(prompt_alpha))
        self.prompts_visual_ln = nn.LayerNorm(width)
        self.prompts_visual_proj = nn.Parameter(torch.randn(width, embed_dim))  # official: randn, never re-initialised
        self.label_smoothing = float(label_smoothing)
        self.mixup = self._mixup_options(mixup)
        self.new_module_lr_ratio = float(new_module_lr_ratio)
        # MODEL.FIX_TEXT: everything but the visual tower and the new modules is frozen (logit_scale included)
        self.freeze_all_but(lambda name: name.startswith("clip.visual.") or not name.startswith("clip."))

    # ----------------------------------------------------------------- official checkpoints
    OFFICIAL_SIGNATURE = (r"message_fc", r"^prompts_generator\.", r"^mit\.")

    def official_layout(self):
        """``utils/tools.py: epoch_saving`` saves ``{'model': model.module.state_dict(), 'optimizer',
        'lr_scheduler', 'max_accuracy', 'epoch', 'config'}`` (``config`` is a yacs CfgNode; it is not read). The
        model is ``models/xclip.py: XCLIP`` (a CLIP subclass): OpenAI names, the cross-frame blocks' ``message_*``
        inside ``visual.transformer.resblocks``, and ``mit``, ``prompts_generator``, ``prompts_visual_ln``,
        ``prompts_visual_proj`` at the top — the same names as here. fp32 weights (apex AMP O1)."""
        from harness.models.checkpoints import OfficialLayout, Section, rules

        return OfficialLayout(
            method="xclip", name="X-CLIP main.py checkpoint",
            source="microsoft/VideoX: X-CLIP/utils/tools.py (epoch_saving), X-CLIP/models/{xclip,cct,mit,prompt}.py",
            sections=(Section("model", rules(("visual.", "clip.visual."), ("mit.", "mit."),
                                             ("prompts_generator.", "prompts_generator."),
                                             ("prompts_visual_ln.", "prompts_visual_ln."),
                                             ("prompts_visual_proj", "prompts_visual_proj"), ("", "clip."))),),
            frame_tensors=((r"mit\.positional_embedding", 1, 0),))

    @staticmethod
    def _mixup_options(mixup) -> dict | None:
        if mixup is False:
            return None
        options = dict(DEFAULT_MIXUP) if mixup in (None, True) else {**DEFAULT_MIXUP, **dict(mixup)}
        unknown = set(options) - set(DEFAULT_MIXUP)
        if unknown:
            raise HarnessError(f"unknown X-CLIP mixup option(s) {', '.join(sorted(unknown))}; valid: "
                               f"{', '.join(DEFAULT_MIXUP)}")
        if not options["enabled"]:
            return None
        if options["mixup_alpha"] <= 0 or options["cutmix_alpha"] <= 0:
            raise HarnessError("X-CLIP mixup needs mixup_alpha > 0 and cutmix_alpha > 0 (or enabled: false)")
        return options

    # ----------------------------------------------------------------- text (frozen, cached)
    def raw_text_features(self) -> torch.Tensor:
        """Unnormalised class text features (P, C, D) for the P templates, cached in every mode (frozen tower)."""
        cache = self._text_cache
        if cache is None or cache.device != self._device():
            with torch.no_grad():
                tokens = [self.tokenize(self.prompts(t)) for t in self.text_cfg["templates"]]
                cache = torch.stack([self.encode_text(t) for t in tokens]).detach()
            self._text_cache = cache
        return cache

    def all_template_features(self) -> torch.Tensor:
        return F.normalize(self.raw_text_features(), dim=-1)

    def train_text_features(self) -> torch.Tensor:
        """UNNORMALISED (C, D) class features of the training template (the first, or a random one per step):
        what :meth:`logits` takes, since the prompt generator's queries are the raw text embeddings."""
        features = self.raw_text_features()
        index = random.randrange(len(features)) if self.text_cfg.get("train_template") == "random" else 0
        return features[index]

    # ----------------------------------------------------------------- video side
    def encode_video(self, videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) → video embedding (B, D) from MIT and the visual context (B, N, D) for the prompts."""
        batch, frames = videos.shape[:2]
        if frames != self.frames:
            raise HarnessError(f"X-CLIP was built for frames={self.frames} (the MIT position embedding), "
                               f"got {frames}")
        visual = self.clip.visual
        x = visual._embeds(videos.flatten(0, 1))           # conv1, class token, positions, ln_pre
        x = visual.transformer(x)                          # cross-frame communication blocks
        cls = visual.ln_post(x[:, 0])
        if visual.proj is not None:
            cls = cls @ visual.proj
        patches = self.prompts_visual_ln(x[:, 1:]) @ self.prompts_visual_proj
        video = self.mit(cls.view(batch, frames, -1))
        context = patches.view(batch, frames, patches.shape[1], -1).mean(dim=1)
        return video, context

    def video_embeddings(self, videos: torch.Tensor) -> torch.Tensor:
        return self.encode_video(videos)[0]

    def conditioned_logits(self, video: torch.Tensor, context: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``XCLIP.forward`` from the encoder outputs and unnormalised class text (C, D): (B, C)."""
        text = text.unsqueeze(0).expand(video.shape[0], -1, -1)
        text = text + self.prompts_generator(text, context)
        video = F.normalize(video, dim=-1)
        text = F.normalize(text, dim=-1)
        return self.logit_scale() * torch.bmm(text, video.unsqueeze(-1)).squeeze(-1)

    def logits(self, videos: torch.Tensor, text_features: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C) video-conditioned logits; ``text_features`` are UNNORMALISED (C, D) class features."""
        video, context = self.encode_video(videos)
        text = text_features if text_features is not None else self.raw_text_features()[0]
        return self.conditioned_logits(video, context, text)

    def video_encoding(self, videos: torch.Tensor):
        return self.encode_video(videos)  # (video, context): the prompt generator needs both

    def scores_from_encoding(self, encoding) -> torch.Tensor:
        video, context = encoding
        per_template = [F.softmax(self.conditioned_logits(video, context, text), dim=-1)
                        for text in self.raw_text_features()]
        return torch.stack(per_template).mean(dim=0)

    # ----------------------------------------------------------------- training
    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        text = self.train_text_features()
        if self.mixup is not None and self.training:
            options = {k: v for k, v in self.mixup.items() if k != "enabled"}
            videos, targets = mixup_cutmix(videos, labels, text.shape[0], self.label_smoothing, **options)
            logits = self.logits(videos, text)
            loss = torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()
        else:
            loss = F.cross_entropy(self.logits(videos, text), labels, label_smoothing=self.label_smoothing)
        return {"loss_cls": loss}

    def param_groups(self, base_lr: float, weight_decay: float) -> list[dict]:
        """``utils/optimizer.py: build_optimizer``: (CLIP visual | message_* | mit | prompts*) × (decay | none)."""
        groups: dict[tuple[str, bool], list] = {}
        for name, parameter in self.named_parameters():
            if not parameter.requires_grad:
                continue
            fast = next((k for k in self.FAST_KEYWORDS if k in name), None)
            no_decay = (parameter.ndim <= 1 or name.endswith(".bias")
                        or any(k in name for k in self.NO_DECAY_KEYWORDS))
            groups.setdefault((fast or "clip", no_decay), []).append(parameter)
        order = ["clip", *self.FAST_KEYWORDS]
        result = []
        for key in order:
            for no_decay in (False, True):
                params = groups.get((key, no_decay))
                if params:
                    ratio = 1.0 if key == "clip" else self.new_module_lr_ratio
                    result.append(dict(params=params, lr=base_lr * ratio,
                                       weight_decay=0.0 if no_decay else weight_decay,
                                       name=key.rstrip("_") + ("_no_decay" if no_decay else "")))
        return result
