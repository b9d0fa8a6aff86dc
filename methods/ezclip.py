"""EZ-CLIP (Shahzadnit/EZ-CLIP, ``clip/model.py``, ``train.py``, ``utils/KLLoss.py``; methods.md §1.1, §2.1).

A frozen CLIP with two kinds of trainable parts:

- **Temporal visual prompts** ``T_prompt_embeddings`` of shape (layers, T, width): in every visual block, for
  each frame, the mean of the frame's tokens plus ``prompt[layer, t]`` → the block's ``ln_1`` → the block's
  **own frozen** multi-head attention across the T frames of the video (no residual, drop-path) → appended as
  one extra token to that frame's sequence for the ordinary spatial attention (with residual) → dropped before
  the adapter and the MLP.
- **Bottleneck adapters** (width → int(0.25·width) → width, GELU, zero-initialised up-projection, residual, no
  scale) after the attention residual and before ``ln_2`` → MLP, in every block of both towers.

Everything else is frozen (``train.py`` freezes every parameter whose name lacks "prompt" and "Adapter",
``logit_scale`` included). Video = plain mean of the per-frame projected CLS embeddings. Loss = the symmetric
KL video–text loss of ActionCLIP over the batch + ``motion_loss_weight`` · Motion_loss on the un-normalised
frame embeddings.

The open_clip blocks are wrapped, not copied: the wrappers hold the block's own ``ln_1``, ``attn``, ``ls_1``,
``ln_2``, ``mlp`` and ``ls_2`` under the same attribute names, so every CLIP parameter keeps its open_clip
name (``clip.visual.transformer.resblocks.3.attn.in_proj_weight``) and backbone checkpoints still map. The
added parameters carry EZ-CLIP's own names (``T_prompt_embeddings``, ``Adapter.D_fc1`` / ``Adapter.D_fc2``,
``visual.temporal_embedding``), so an official checkpoint maps onto them by prefix alone (:meth:`EZCLIP.official_layout`).

The official ``VisualTransformer`` also holds ``temporal_embedding`` (1, T, width), added to every token of frame t
after the positional embedding. It is zero-initialised, not in the CLIP weights and frozen by ``train.py`` (its
name lacks "prompt" and "Adapter"), so it stays zero and changes nothing; it is kept here (frozen, zero) because
it is in every official checkpoint, which must load strictly.
"""
from __future__ import annotations

import math
import random
from functools import partial

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock
from torch import nn
from torch.utils.checkpoint import checkpoint

from harness.errors import HarnessError
from harness.method import VideoCLIPMethod, kl_contrastive_loss

DEFAULT_TEXT = dict(source="descriptions", templates=["{}"], train_template="first")
DROP_PATH_MODES = ("token", "sample")


# ----------------------------------------------------------------------------------------------- losses
def motion_loss(frame_embeddings: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """EZ-CLIP's ``Motion_loss`` (``utils/KLLoss.py``) on un-normalised frame embeddings ``e`` of shape (B, T, D).

    With edge replication (e_{-1} = e_0, e_T = e_{T-1}): C = mean over (B, T, D) of |e_{t+1} − e_{t−1}| / 2,
    V = mean over (B, D) of the unbiased variance over T; the loss is 1 / (C + V + delta), delta = 1.
    """
    central, variance = motion_term_maps(frame_embeddings)
    return 1.0 / (central.mean() + variance.mean() + delta)


def motion_term_maps(frame_embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of :func:`motion_loss` before averaging: |e_{t+1} − e_{t−1}| / 2 with edge replication,
    (B, T, D), and the unbiased variance over T, (B, D) — shared with the per-video diagnostics
    (harness.diagnostics.motion_terms)."""
    previous = torch.cat([frame_embeddings[:, :1], frame_embeddings[:, :-1]], dim=1)
    following = torch.cat([frame_embeddings[:, 1:], frame_embeddings[:, -1:]], dim=1)
    return (following - previous).abs() / 2.0, torch.var(frame_embeddings, dim=1)


# ----------------------------------------------------------------------------------------------- modules
class DropPath(nn.Module):
    """Stochastic depth on a batch-first (N, L, D) residual branch.

    ``mode="token"`` reproduces the official code, whose tensors are sequence-first (L, N, D) while its
    ``drop_path`` draws one keep/drop per index of dimension 0: one draw per *token position*, shared by every
    sample of the batch. ``mode="sample"`` is the usual per-sample stochastic depth (timm).
    """

    def __init__(self, probability: float = 0.0, mode: str = "token"):
        super().__init__()
        if mode not in DROP_PATH_MODES:
            raise HarnessError(f"drop_path_mode must be one of {', '.join(DROP_PATH_MODES)}, got {mode!r}")
        self.probability = float(probability)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.probability == 0.0 or not self.training:
            return x
        keep = 1.0 - self.probability
        if self.mode == "token":
            shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        else:
            shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x / keep * x.new_empty(shape).bernoulli_(keep)

    def extra_repr(self) -> str:
        return f"p={self.probability:.3f}, mode={self.mode}"


class Adapter(nn.Module):
    """EZ-CLIP's ``Adapter``: Linear(width → int(ratio·width)) → GELU → Linear(→ width), plus the input.

    The up-projection (``D_fc2``) starts at zero (``CLIP.init_adapter``), so the adapter starts as the identity.
    """

    def __init__(self, width: int, ratio: float = 0.25):
        super().__init__()
        hidden = int(width * ratio)
        self.D_fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.D_fc2 = nn.Linear(hidden, width)
        nn.init.zeros_(self.D_fc2.weight)
        nn.init.zeros_(self.D_fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.D_fc2(self.act(self.D_fc1(x)))


class EZBlock(nn.Module):
    """An open_clip ``ResidualAttentionBlock`` run the EZ-CLIP way (``clip/model.py: ResidualAttentionBlock``).

    Holds the block's own sub-modules (same names, so the CLIP parameters keep their names), adds the
    ``Adapter`` (optional) and stochastic depth, and — for visual blocks given a ``prompt`` — the temporal token.
    """

    def __init__(self, block: ResidualAttentionBlock, adapter: bool = True, adapter_ratio: float = 0.25,
                 drop_path: float = 0.0, drop_path_mode: str = "token", attention_dropout: bool = False):
        super().__init__()
        if not isinstance(block, ResidualAttentionBlock) or hasattr(block, "ln_1_kv"):
            raise HarnessError(f"EZ-CLIP needs open_clip's standard ResidualAttentionBlock, got "
                               f"{type(block).__name__}; use a plain ViT backbone (no custom attention options)")
        if not block.attn.batch_first:
            raise HarnessError("EZ-CLIP expects open_clip's batch-first attention blocks (open_clip ≥ 2.x)")
        self.ln_1, self.attn, self.ls_1 = block.ln_1, block.attn, block.ls_1
        self.ln_2, self.mlp, self.ls_2 = block.ln_2, block.mlp, block.ls_2
        width = self.ln_1.normalized_shape[0]
        self.Adapter = Adapter(width, adapter_ratio) if adapter else None
        self.drop_path = DropPath(drop_path, drop_path_mode)
        if attention_dropout:
            # The official blocks build nn.MultiheadAttention(dropout=drop-path rate of the layer).
            self.attn.dropout = float(drop_path)

    def get_weight_dtype(self) -> torch.dtype:
        return self.mlp.c_fc.weight.dtype

    def attention(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        attn_mask = attn_mask.to(x.dtype) if attn_mask is not None else None
        return self.ls_1(self.attn(x, x, x, need_weights=False, attn_mask=attn_mask)[0])

    def temporal_token(self, x: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        """(B·T, L, D) frame tokens + (T, D) layer prompt → (B·T, 1, D): one token per frame that has attended
        over the T frames of its video (block's ln_1 and frozen MHA; drop-path; no residual)."""
        frames = prompt.shape[0]
        batch_frames, length, width = x.shape
        if batch_frames % frames:
            raise HarnessError(f"EZ-CLIP got {batch_frames} frame images, not a multiple of frames={frames}")
        tokens = x.view(batch_frames // frames, frames, length, width).mean(dim=2) + prompt.unsqueeze(0)
        tokens = self.drop_path(self.attention(self.ln_1(tokens)))
        return tokens.reshape(batch_frames, 1, width)

    def forward(self, q_x: torch.Tensor, k_x=None, v_x=None, attn_mask: torch.Tensor | None = None,
                prompt: torch.Tensor | None = None) -> torch.Tensor:
        if k_x is not None or v_x is not None:
            raise HarnessError("EZ-CLIP blocks are self-attention blocks (no cross-attention inputs)")
        x = q_x
        length = x.shape[1]
        if prompt is not None:
            x = torch.cat([x, self.temporal_token(x, prompt)], dim=1)
        x = x + self.drop_path(self.attention(self.ln_1(x), attn_mask))
        x = x[:, :length]
        if self.Adapter is not None:
            x = self.Adapter(x)
        return x + self.drop_path(self.ls_2(self.mlp(self.ln_2(x))))


class TemporalPromptTransformer(nn.Module):
    """Replaces ``clip.visual.transformer``: the same blocks (wrapped) plus the per-layer temporal prompts.

    ``T_prompt_embeddings`` (layers, frames, width), uniform(±sqrt(6 / (3·p·p + width))) as the official
    ``Transformer``, dropout on the prompt of each layer (``prompt_dropout``, official 0.1; ``prompt_proj`` is
    the identity there and omitted here). The frame count is part of the parameter shape.
    """

    def __init__(self, transformer: nn.Module, blocks: list[EZBlock], frames: int, init_patch: int,
                 dropout: float = 0.1):
        super().__init__()
        if not getattr(transformer, "batch_first", True):
            raise HarnessError("EZ-CLIP expects open_clip's batch-first visual transformer")
        self.width, self.layers = transformer.width, transformer.layers
        self.batch_first = True
        self.grad_checkpointing = getattr(transformer, "grad_checkpointing", False)
        self.resblocks = nn.ModuleList(blocks)
        self.frames = int(frames)
        bound = math.sqrt(6.0 / float(3 * init_patch * init_patch + self.width))
        self.T_prompt_embeddings = nn.Parameter(torch.empty(len(blocks), self.frames, self.width))
        nn.init.uniform_(self.T_prompt_embeddings, -bound, bound)
        self.prompt_dropout = nn.Dropout(dropout)

    def get_cast_dtype(self) -> torch.dtype:
        return self.resblocks[0].get_weight_dtype()

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer, block in enumerate(self.resblocks):
            prompt = self.prompt_dropout(self.T_prompt_embeddings[layer]).to(x.dtype)
            if self.grad_checkpointing and self.training:
                x = checkpoint(block, x, None, None, attn_mask, prompt, use_reentrant=False)
            else:
                x = block(x, attn_mask=attn_mask, prompt=prompt)
        return x

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        key = prefix + "T_prompt_embeddings"
        if key in state_dict and tuple(state_dict[key].shape) != tuple(self.T_prompt_embeddings.shape):
            layers, frames = tuple(state_dict[key].shape)[:2]
            raise HarnessError(
                f"the EZ-CLIP checkpoint has temporal prompts for {frames} frames × {layers} layers "
                f"(shape {tuple(state_dict[key].shape)}), but this model was built for frames={self.frames} × "
                f"{len(self.resblocks)} layers {tuple(self.T_prompt_embeddings.shape)}: EZ-CLIP bakes the frame "
                f"count into the prompt parameter, so a checkpoint only loads with the frame count it was trained "
                f"with (use --cfg-options model.frames={frames}, and the same backbone)")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


def _add_temporal_embedding(visual: nn.Module, module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook on the visual tower's ``patch_dropout`` (which open_clip runs right after the positional
    embedding, where the official code adds ``temporal_embedding``): token embeddings (B·T, N, width) of frame t
    + ``temporal_embedding[0, t]``. Bound with ``partial(visual)`` so a deep copy of the model hooks its own copy."""
    (x,), embedding = args, visual.temporal_embedding
    frames = embedding.shape[1]
    if x.shape[0] % frames:
        raise HarnessError(f"EZ-CLIP got {x.shape[0]} frame images, not a multiple of frames={frames} (the "
                           "temporal embedding's frame count)")
    batch_frames, tokens, width = x.shape
    x = (x.view(batch_frames // frames, frames, tokens, width) + embedding.to(x.dtype).unsqueeze(2))
    return (x.view(batch_frames, tokens, width),)


# ----------------------------------------------------------------------------------------------- method
class EZCLIP(VideoCLIPMethod):
    """EZ-CLIP on an open_clip ViT. Ablation switches: ``prompts``, ``adapters``, ``motion_loss``.

    Options (``model:`` section of ``methods/configs/ezclip.yaml``):

    - ``prompts`` / ``adapters`` / ``motion_loss`` (bool): the three components (all on officially).
    - ``motion_loss_weight`` (1.0), ``adapter_ratio`` (0.25), ``prompt_dropout`` (0.1).
    - ``prompt_init_patch`` (16): p in the prompt init bound sqrt(6 / (3·p·p + width)). The official code
      hard-codes 16 whatever the patch size; ``null`` uses the backbone's patch size instead.
    - ``drop_path`` (0.1, ``network.drop_out``): stochastic-depth rates linspace(0, drop_path, visual layers),
      layer i of the text tower taking rate i of the same list, as the official ``CLIP``.
    - ``drop_path_mode``: ``token`` (official: one draw per token position shared over the batch, see
      :class:`DropPath`) or ``sample``.
    - ``attention_dropout`` (true): also use each layer's rate as attention-probability dropout (official).
    """

    default_normalization = "clip"

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None, prompts: bool = True, adapters: bool = True,
                 motion_loss: bool = True, motion_loss_weight: float = 1.0, adapter_ratio: float = 0.25,
                 prompt_dropout: float = 0.1, prompt_init_patch: int | None = 16, drop_path: float = 0.1,
                 drop_path_mode: str = "token", attention_dropout: bool = True):
        super().__init__(backbone=backbone, frames=frames, text={**DEFAULT_TEXT, **(text or {})},
                         normalization=normalization)
        self.use_prompts, self.use_adapters, self.use_motion_loss = bool(prompts), bool(adapters), bool(motion_loss)
        self.motion_loss_weight = float(motion_loss_weight)
        visual = self.clip.visual
        visual_transformer = visual.transformer
        text_transformer = self.clip.transformer if hasattr(self.clip, "transformer") else self.clip.text.transformer
        rates = torch.linspace(0, float(drop_path), len(visual_transformer.resblocks)).tolist()

        def wrap(blocks):
            return [EZBlock(block, adapter=self.use_adapters, adapter_ratio=adapter_ratio,
                            drop_path=rates[min(i, len(rates) - 1)], drop_path_mode=drop_path_mode,
                            attention_dropout=attention_dropout) for i, block in enumerate(blocks)]

        visual_blocks = wrap(visual_transformer.resblocks)
        if self.use_prompts:
            patch = visual.patch_size[0] if prompt_init_patch is None else int(prompt_init_patch)
            visual.transformer = TemporalPromptTransformer(visual_transformer, visual_blocks, self.frames,
                                                           init_patch=patch, dropout=prompt_dropout)
        else:
            visual_transformer.resblocks = nn.ModuleList(visual_blocks)
        text_transformer.resblocks = nn.ModuleList(wrap(text_transformer.resblocks))
        width = int(visual.class_embedding.shape[-1])
        visual.temporal_embedding = nn.Parameter(torch.zeros(1, self.frames, width))  # official: zeros, frozen
        visual.patch_dropout.register_forward_pre_hook(partial(_add_temporal_embedding, visual))
        # train.py: everything whose name lacks "prompt" and "Adapter" is frozen (logit_scale included).
        self.freeze_all_but(lambda name: "prompt" in name or "Adapter" in name)

    # ------------------------------------------------------------------ official checkpoints
    OFFICIAL_SIGNATURE = (r"T_prompt_embeddings", r"\.Adapter\.D_fc", r"temporal_embedding")

    def official_layout(self):
        """``utils/saving.py`` saves ``{'epoch', 'model_state_dict': CLIP.state_dict(), 'optimizer_state_dict'}``
        of the bare CLIP (``clip/model.py``): OpenAI names plus ``visual.transformer.T_prompt_embeddings``,
        ``*.Adapter.D_fc{1,2}`` and ``visual.temporal_embedding`` — the harness keeps those names under ``clip.``.
        Trained on the GPU with ``convert_weights``: Linear/Conv/attention weights in fp16."""
        from harness.models.checkpoints import OPENAI_CLIP, OfficialLayout, Section, openai_fp16

        return OfficialLayout(
            method="ezclip", name="EZ-CLIP train.py checkpoint",
            source="Shahzadnit/EZ-CLIP: utils/saving.py (epoch_saving, best_saving), clip/model.py",
            sections=(Section("model_state_dict", OPENAI_CLIP, half=openai_fp16),),
            unsupported=((r"visual\.transformer\.resblocks\.\d+\.T_Adapter\..*",
                          "the temporal adapter T_Adapter (official option T_Adapter with prompts off)"),),
            frame_tensors=((r"clip\.visual\.transformer\.T_prompt_embeddings", 1, 0),
                           (r"clip\.visual\.temporal_embedding", 1, 0)))

    # ------------------------------------------------------------------ video side
    def encode_frames(self, videos: torch.Tensor) -> torch.Tensor:
        if self.use_prompts and videos.shape[1] != self.frames:
            raise HarnessError(f"EZ-CLIP was built for {self.frames} frames (the temporal prompts' shape) but got "
                               f"videos of {videos.shape[1]} frames; sample {self.frames} frames per view")
        return super().encode_frames(videos)

    # ------------------------------------------------------------------ training
    def batch_text_features(self, labels: torch.Tensor) -> torch.Tensor:
        """Normalised text features of each sample's class, (B, D), as ``train.py`` builds its ``texts``:
        one text per sample (a random template per sample when ``train_template`` is ``random``)."""
        templates = self.text_cfg["templates"]
        if self.text_cfg.get("train_template") == "random":
            chosen = [random.choice(templates) for _ in range(len(labels))]
        else:
            chosen = [templates[0]] * len(labels)
        texts = [template.format(self.class_phrase(int(label))) for template, label in zip(chosen, labels.tolist())]
        return F.normalize(self.encode_text(self.tokenize(texts)), dim=-1)

    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        frame_embeddings = self.encode_frames(videos)                        # (B, T, D), un-normalised
        video = F.normalize(frame_embeddings.mean(dim=1), dim=-1)
        text = self.batch_text_features(labels)
        logits_per_video = self.logit_scale() * video @ text.t()             # (B, B)
        losses = {"loss_contrastive": kl_contrastive_loss(logits_per_video, labels)}
        if self.use_motion_loss:
            losses["loss_motion"] = self.motion_loss_weight * motion_loss(frame_embeddings)
        return losses
