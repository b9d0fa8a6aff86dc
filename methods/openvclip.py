"""Open-VCLIP (wengzejia1/Open-VCLIP, ICML 2023 / TPAMI 2024; methods.md §5).

Read in the official code (all ``wengzejia1/Open-VCLIP``): ``slowfast/models/temporalclip_video_model.py``
(``TemporalClipVideo``, ``WCLIP``), ``slowfast/models/customize_visiontransformer.py`` (``TimesAttentionBlock``,
``TSTransformer``, ``TemporalVisionTransformer``), ``slowfast/models/torch_utils/activation.py`` and
``…/functional.py`` (``_scaled_dot_product_attention``, branch ``expand_temporal_view``),
``slowfast/models/optimizer.py``, ``tools/train_net.py`` (``TRAIN.LINEAR_CONNECT_CLIMB``), ``tools/test_net.py``
(``TEST.PATCHING_MODEL``), ``weight_average_tool.py`` (SWA), ``configs/Kinetics/TemporalCLIP_vitb32_8x16_STAdapter.yaml``,
``script/training/temporal_b16/train_tclip_interpolation_0.0-0.6_ratio0.5.sh``,
``script/testing/temporal_test_b16/*.sh`` and ``README.md``.

Model
- **Neighbour-frame attention** (``MODEL.TEMPORAL_MODELING_TYPE 'expand_temporal_view'``): every block of CLIP's
  visual tower keeps its weights and its structure (pre-LN attention + MLP, residuals), but the attention of
  frame t takes its keys and values from three frames: its own tokens and those of frames t−1 and t+1 (3·L keys
  for L queries; heads and projections are CLIP's own). At the video's ends the missing neighbour is a block of
  **zero** keys and values that stays in the softmax (a score of 0 per zero key, no mask) — the official code
  fills a zero tensor and never masks it; ``neighbour_padding: mask`` excludes them instead. No parameter is
  added, so Open-VCLIP has exactly CLIP's parameters.
- **Video–text score**: each frame's projected CLS embedding is L2-normalised, the frame cosines against the
  class classifier are scaled by exp(logit_scale) and averaged over frames (``pred.reshape(bz, T, -1).mean(1)``),
  i.e. the video vector is the *mean of normalised frame embeddings, not re-normalised*.
- **Text**: the classifier of a class is the mean over 28 templates ("a photo of {}.", "a video of a person
  doing {}.", …: {a photo, a video, a example, a demonstration} of {"", a person, a person using/doing/during/
  performing/practicing} {}) of the normalised text embeddings, re-normalised (``achieve_csf_matrix``). It is
  computed once, under ``no_grad``: the text tower never receives a gradient, so it never changes.

What trains: the whole visual tower and ``logit_scale`` (the only parameters that get gradients; the text tower
has ``requires_grad`` but no gradient, so AdamW skips it — frozen here). AdamW, weight decay on every parameter
except 1-D ones and biases (``SOLVER.ZERO_WD_1D_PARAM``; the 0-D ``logit_scale`` is decayed, as the official rule
``len(p.shape) == 1`` leaves it).

Loss: cross-entropy of the video logits against the class index (``MODEL.LOSS_FUNC soft_cross_entropy`` with
Mixup off, i.e. one-hot targets) **plus the interpolated-weight term** (``TRAIN.LINEAR_CONNECT_CLIMB``): at
every step λ ~ U(0, 0.6) (``LINEAR_CONNECT_SAMPLE_L/R``), the same batch is run with the weights
λ·θ_CLIP + (1−λ)·θ, its loss ×0.5 (``LINEAR_CONNECT_LOSS_RATIO``), and its gradient *with respect to the mixed
weights* is added to θ's gradient (no (1−λ) factor; ``train_net.py`` adds ``grads_record`` as is). Here that is
one differentiable loss: the mixed weights are θ + stop_gradient(λ·(θ_CLIP − θ)), whose value is the
interpolation and whose gradient passes to θ unchanged, so the summed loss has exactly the official gradient.

SWA: the official model is the uniform average of the end-of-epoch weights of epochs 2…22 (``swa_2_22.pth``,
``weight_average_tool.py``: ``wa_start = 2``, ``wa_end = 22``, the CLIP weights (id 0) excluded). Here the method
keeps that running average itself (``swa``), reading the epoch and step from mmengine's message hub: after the
last update of an epoch (``train_step``, so the epoch's checkpoint already carries it); under DDP, whose wrapper
skips the module's ``train_step``, at the first step of the next epoch and, for the last epoch, when the model
leaves training mode after the loop (a run resumed under DDP can then miss one epoch's snapshot). The average is stored in persistent buffers (``swa.*``), so a saved checkpoint carries it.

Test time (**eval-mode behaviour**): the weights evaluated are r·θ_CLIP + (1−r)·θ_SWA with r =
``TEST.PATCHING_RATIO`` = 0.5 (the README's B/16 scripts; θ = the current weights when no SWA snapshot exists),
computed on the fly through ``torch.func.functional_call`` — the stored parameters are never overwritten, so
training, checkpoints and ``--checkpoint`` runs stay consistent. θ_CLIP is a non-persistent copy of the trainable
parameters taken at construction (the backbone's own weights). The README tests with 3 temporal views × 1 crop:
``--cfg-options eval.clips=3`` (an engine setting; the method config cannot set it).

Departures (documented options or engine limits): per-view scores are softmax probabilities averaged over views
(the harness contract) where SlowFast sums the per-view logits; the harness's warm-up starts at 1e-3 × LR (the
official warm-up starts at 1e-2 × LR, ``SOLVER.WARMUP_START_LR 3.33e-8``); SlowFast's random short-side scale
jitter [224, 256] is the engine's data pipeline's business; no mixed precision.
"""
from __future__ import annotations

import random
from itertools import product

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock
from torch import nn
from torch.func import functional_call

from harness.errors import HarnessError
from harness.method import VideoCLIPMethod

#: the 28 prompt templates of ``TemporalClipVideo.text_prompt`` (4 openings × 7 subjects)
TEMPLATES = [f"{opening} of {subject}{{}}." for opening, subject in product(
    ("a photo", "a video", "a example", "a demonstration"),
    ("", "a person ", "a person using ", "a person doing ", "a person during ", "a person performing ",
     "a person practicing "))]
DEFAULT_TEXT = dict(source="names", templates=TEMPLATES, train_template="first")
DEFAULT_INTERPOLATION = dict(enabled=True, weight=0.5, low=0.0, high=0.6)
DEFAULT_SWA = dict(enabled=True, start_epoch=2, end_epoch=None)
TEMPORAL_TYPES = ("expand_temporal_view", "none")
PADDINGS = ("zeros", "mask")


# ----------------------------------------------------------------------------------------------- block
def neighbour_frame_attention(x: torch.Tensor, attn: nn.MultiheadAttention, frames: int,
                              padding: str = "zeros") -> torch.Tensor:
    """Open-VCLIP / FROSTER ``expand_temporal_view`` self-attention on batch-first frame tokens.

    ``x`` (B·T, L, D), frames of a video consecutive. Queries of frame t attend over [keys of t+1, keys of t−1,
    keys of t] (3·L keys) with the block's own ``in_proj`` / ``out_proj`` (no new parameters). A missing
    neighbour is L zero keys and values that stay in the softmax (official, ``padding="zeros"``) or are masked out
    (``padding="mask"``).
    """
    batch_frames, length, width = x.shape
    if batch_frames % frames:
        raise HarnessError(f"got {batch_frames} frame images, not a multiple of frames={frames}")
    heads = attn.num_heads
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)

    def split(t):  # (B·T, L, D) → (B, T, heads, L, head_dim)
        return t.reshape(batch_frames // frames, frames, length, heads, width // heads).permute(0, 1, 3, 2, 4)

    def neighbours(t):  # keys of [frame t+1 | frame t−1 | frame t] along the token axis, zeros at the ends
        following = torch.cat([t[:, 1:], torch.zeros_like(t[:, :1])], dim=1)
        previous = torch.cat([torch.zeros_like(t[:, :1]), t[:, :-1]], dim=1)
        return torch.cat([following, previous, t], dim=3)

    mask = None
    if padding == "mask":
        present = torch.ones(frames, 3, length, dtype=torch.bool, device=x.device)
        present[-1, 0] = False  # the last frame has no following frame
        present[0, 1] = False   # the first frame has no previous frame
        mask = present.view(1, frames, 1, 1, 3 * length)
    q, k, v = split(q), neighbours(split(k)), neighbours(split(v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                         dropout_p=attn.dropout if attn.training else 0.0)
    out = out.permute(0, 1, 3, 2, 4).reshape(batch_frames, length, width)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


class NeighbourFrameBlock(nn.Module):
    """An open_clip ``ResidualAttentionBlock`` whose attention sees frames t−1, t, t+1 (``TimesAttentionBlock``).

    Holds the block's own ``ln_1``, ``attn``, ``ls_1``, ``ln_2``, ``mlp``, ``ls_2`` (so every CLIP parameter keeps
    its open_clip name) and computes the attention from ``attn.in_proj_*`` / ``attn.out_proj``. ``frames`` is set
    by the method before each forward (the official block has it fixed at ``T = DATA.NUM_FRAMES``).
    """

    def __init__(self, block: ResidualAttentionBlock, padding: str = "zeros"):
        super().__init__()
        if not isinstance(block, ResidualAttentionBlock) or hasattr(block, "ln_1_kv"):
            raise HarnessError(f"Open-VCLIP needs open_clip's standard ResidualAttentionBlock, got {type(block).__name__}")
        if not block.attn.batch_first or not block.attn._qkv_same_embed_dim:
            raise HarnessError("Open-VCLIP expects open_clip's batch-first, packed-projection attention")
        if padding not in PADDINGS:
            raise HarnessError(f"neighbour_padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        self.ln_1, self.attn, self.ls_1 = block.ln_1, block.attn, block.ls_1
        self.ln_2, self.mlp, self.ls_2 = block.ln_2, block.mlp, block.ls_2
        self.padding = padding
        self.frames = 1

    def neighbour_attention(self, x: torch.Tensor) -> torch.Tensor:
        """(B·T, L, D) normalised tokens → (B·T, L, D) attention output over own + neighbour-frame keys."""
        return neighbour_frame_attention(x, self.attn, self.frames, self.padding)

    def forward(self, q_x: torch.Tensor, k_x=None, v_x=None, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        if k_x is not None or v_x is not None or attn_mask is not None:
            raise HarnessError("Open-VCLIP's visual blocks are unmasked self-attention blocks")
        x = q_x + self.ls_1(self.neighbour_attention(self.ln_1(q_x)))
        return x + self.ls_2(self.mlp(self.ln_2(x)))


# ----------------------------------------------------------------------------------------------- method
class OpenVCLIP(VideoCLIPMethod):
    """Open-VCLIP on an open_clip ViT (see the module docstring). Options (``methods/configs/openvclip.yaml``):

    - ``temporal``: ``expand_temporal_view`` (official) or ``none`` (CLIP's own per-frame attention).
    - ``neighbour_padding``: ``zeros`` (official: unmasked zero keys at the video's ends) or ``mask``.
    - ``interpolation``: {enabled, weight 0.5, low 0.0, high 0.6} — the interpolated-weight loss term.
    - ``swa``: {enabled, start_epoch 2, end_epoch null (= the last epoch)} — 1-based end-of-epoch ids averaged.
    - ``test_ratio`` (0.5): r in the eval-mode weights r·θ_CLIP + (1−r)·θ_SWA; 0 evaluates θ_SWA itself.
    - ``train_logit_scale`` (true): ``logit_scale`` gets gradients officially.
    """

    default_normalization = "clip"

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None, temporal: str = "expand_temporal_view",
                 neighbour_padding: str = "zeros", interpolation: dict | None = None, swa: dict | None = None,
                 test_ratio: float = 0.5, train_logit_scale: bool = True):
        super().__init__(backbone=backbone, frames=frames, text={**DEFAULT_TEXT, **(text or {})},
                         normalization=normalization)
        if temporal not in TEMPORAL_TYPES:
            raise HarnessError(f"Open-VCLIP temporal must be one of {', '.join(TEMPORAL_TYPES)}, got {temporal!r}")
        for name, given, defaults in (("interpolation", interpolation, DEFAULT_INTERPOLATION),
                                      ("swa", swa, DEFAULT_SWA)):
            unknown = set(given or {}) - set(defaults)
            if unknown:
                raise HarnessError(f"unknown Open-VCLIP {name} option(s) {', '.join(sorted(unknown))}; valid: "
                                   f"{', '.join(defaults)}")
        self.interpolation = {**DEFAULT_INTERPOLATION, **(interpolation or {})}
        self.swa_cfg = {**DEFAULT_SWA, **(swa or {})}
        if not 0.0 <= self.interpolation["low"] < self.interpolation["high"] <= 1.0:
            raise HarnessError("Open-VCLIP interpolation needs 0 ≤ low < high ≤ 1")
        if not 0.0 <= float(test_ratio) <= 1.0:
            raise HarnessError(f"Open-VCLIP test_ratio must be in [0, 1], got {test_ratio}")
        self.temporal, self.test_ratio = temporal, float(test_ratio)
        visual = self.clip.visual
        if temporal == "expand_temporal_view":
            visual.transformer.resblocks = nn.ModuleList(
                NeighbourFrameBlock(block, neighbour_padding) for block in visual.transformer.resblocks)
        self.freeze_all_but(lambda name: name.startswith("clip.visual.")
                            or (train_logit_scale and name == "clip.logit_scale"))
        # θ_CLIP: the zero-shot weights of every trainable parameter (non-persistent: always the backbone's own)
        self._trainable = [name[len("clip."):] for name, p in self.named_parameters() if p.requires_grad]
        self.zero_shot = nn.Module()
        self.swa = nn.Module()
        for name in self._trainable:
            parameter = self.clip.get_parameter(name)
            self.zero_shot.register_buffer(_key(name), parameter.detach().clone(), persistent=False)
            if self.swa_cfg["enabled"]:
                self.swa.register_buffer(_key(name), torch.zeros_like(parameter.detach()))
        if self.swa_cfg["enabled"]:
            self.swa.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._swa_epoch: int | None = None  # the training epoch (0-based) the last step belonged to
        self._swa_last: int | None = None   # the last epoch whose end has been folded in
        self._classifier: torch.Tensor | None = None
        self._eval_weights: tuple | None = None

    # ------------------------------------------------------------------ weights
    def _named_trainable(self) -> dict[str, torch.Tensor]:
        return {name: self.clip.get_parameter(name) for name in self._trainable}

    def swa_weights(self) -> dict[str, torch.Tensor] | None:
        """θ_SWA (the average of the end-of-epoch snapshots so far), or None before the first snapshot."""
        if not self.swa_cfg["enabled"] or int(self.swa.count) == 0:
            return None
        return {name: getattr(self.swa, _key(name)) for name in self._trainable}

    def zero_shot_weights(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self.zero_shot, _key(name)) for name in self._trainable}

    def interpolated(self, ratio: float, base: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """ratio·θ_CLIP + (1 − ratio)·base (base: θ_SWA, else the current weights), detached."""
        base = base or self.swa_weights() or self._named_trainable()
        zero_shot = self.zero_shot_weights()
        return {name: (ratio * zero_shot[name] + (1.0 - ratio) * base[name]).detach() for name in self._trainable}

    def eval_weights(self) -> dict[str, torch.Tensor]:
        """The weights evaluated in eval mode (module docstring), cached until a weight or buffer changes."""
        tensors = list(self._named_trainable().values()) + list(self.swa.buffers())
        version = tuple((t.data_ptr(), t._version) for t in tensors)
        if self._eval_weights is None or self._eval_weights[0] != version:
            self._eval_weights = (version, self.interpolated(self.test_ratio))
        return self._eval_weights[1]

    def _active_weights(self) -> dict[str, torch.Tensor] | None:
        return None if self.training else self.eval_weights()

    def _swa_snapshot(self, epoch: int) -> None:
        """Fold the current weights in as the end of 0-based ``epoch`` (SWA id epoch + 1) if it is in the window
        (once per epoch: the end is seen after its last step, or at the first step of the next one)."""
        identifier, start, end = epoch + 1, self.swa_cfg["start_epoch"], self.swa_cfg["end_epoch"]
        if self._swa_last is not None and epoch <= self._swa_last:
            return
        self._swa_last = epoch
        if not self.swa_cfg["enabled"] or identifier < start or (end is not None and identifier > end):
            return
        with torch.no_grad():
            count = int(self.swa.count)
            for name, parameter in self._named_trainable().items():
                average = getattr(self.swa, _key(name))
                average.mul_(count / (count + 1)).add_(parameter.detach(), alpha=1.0 / (count + 1))
            self.swa.count.add_(1)

    def _observe_epoch(self) -> None:
        """Called at every training step: a new epoch number means the previous epoch has ended."""
        from mmengine.logging import MessageHub

        hub = MessageHub.get_current_instance()
        epoch = hub.get_info("epoch") if hub.get_info("loop_stage") == "train" else None
        if epoch is None:
            return
        if self._swa_epoch is not None and epoch > self._swa_epoch:
            self._swa_snapshot(self._swa_epoch)
        self._swa_epoch = int(epoch)

    def train_step(self, data, optim_wrapper):
        """mmengine's step, then the end-of-epoch SWA snapshot right after an epoch's last update (before the
        epoch's checkpoint is saved). Under DDP the wrapper bypasses this; ``loss`` then sees the epoch change."""
        from mmengine.logging import MessageHub

        log_vars = super().train_step(data, optim_wrapper)
        hub = MessageHub.get_current_instance()
        step, steps, epochs = (hub.get_info(k) for k in ("iter", "max_iters", "max_epochs"))
        if None not in (step, steps, epochs) and hub.get_info("loop_stage") == "train" and steps % epochs == 0:
            per_epoch = steps // epochs
            if (step + 1) % per_epoch == 0:
                self._swa_snapshot(step // per_epoch)
        return log_vars

    def train(self, mode: bool = True):
        if not mode and getattr(self, "_swa_epoch", None) is not None:
            from mmengine.logging import MessageHub

            if MessageHub.get_current_instance().get_info("loop_stage") != "train":  # the loop has finished
                self._swa_snapshot(self._swa_epoch)
                self._swa_epoch = None
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._classifier, self._eval_weights, self._swa_epoch, self._swa_last = None, None, None, None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # ------------------------------------------------------------------ text
    def set_class_names(self, class_names, descriptions=None) -> None:
        before = (self.class_names, self.descriptions)
        super().set_class_names(class_names, descriptions)
        if (self.class_names, self.descriptions) != before:
            self._classifier = None

    def classifier(self) -> torch.Tensor:
        """(C, D): per class, the re-normalised mean of the normalised template embeddings (``no_grad``, cached:
        the text tower is frozen)."""
        if self._classifier is None:
            with torch.no_grad():
                per_template = torch.stack([self.text_features(t) for t in self.text_cfg["templates"]])
                self._classifier = F.normalize(per_template.mean(dim=0), dim=-1)
        return self._classifier

    def all_template_features(self) -> torch.Tensor:
        return self.classifier().unsqueeze(0)

    def train_text_features(self) -> torch.Tensor:
        return self.classifier()

    # ------------------------------------------------------------------ video side
    def _visual(self, images: torch.Tensor, weights: dict[str, torch.Tensor] | None) -> torch.Tensor:
        visual_weights = {n[len("visual."):]: w for n, w in (weights or {}).items() if n.startswith("visual.")}
        if not visual_weights:
            return self.clip.visual(images)
        return functional_call(self.clip.visual, visual_weights, (images,), strict=False)

    def _scale(self, weights: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if weights and "logit_scale" in weights:
            return weights["logit_scale"].exp()
        return self.clip.logit_scale.exp()

    def encode_frames(self, videos: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        batch, frames = videos.shape[:2]
        for block in self.clip.visual.transformer.resblocks:
            if isinstance(block, NeighbourFrameBlock):
                block.frames = frames
        return self._visual(videos.flatten(0, 1), weights).view(batch, frames, -1)

    def video_embeddings(self, videos: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """(B, D): the mean of the L2-normalised frame embeddings (not re-normalised: the frame-averaged logits)."""
        return F.normalize(self.encode_frames(videos, weights), dim=-1).mean(dim=1)

    def _logits(self, videos, weights, text_features=None) -> torch.Tensor:
        text = text_features if text_features is not None else self.classifier()
        return self._scale(weights) * self.video_embeddings(videos, weights) @ text.t()

    def logit_scale(self) -> torch.Tensor:
        return self._scale(self._active_weights())

    def logits(self, videos: torch.Tensor, text_features: torch.Tensor | None = None) -> torch.Tensor:
        return self._logits(videos, self._active_weights(), text_features)

    def video_encoding(self, videos: torch.Tensor):
        return self.video_embeddings(videos, self._active_weights())

    def scores_from_encoding(self, encoding) -> torch.Tensor:
        return F.softmax(self.logit_scale() * encoding @ self.classifier().t(), dim=-1)

    # ------------------------------------------------------------------ training
    def mixed_weights(self, ratio: float) -> dict[str, torch.Tensor]:
        """θ + stop_gradient(ratio·(θ_CLIP − θ)): the value of the interpolation, θ's gradient passed unchanged."""
        zero_shot = self.zero_shot_weights()
        return {name: p + (ratio * (zero_shot[name] - p)).detach() for name, p in self._named_trainable().items()}

    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        if self.training:
            self._observe_epoch()
        text = self.classifier()
        losses = {"loss_cls": F.cross_entropy(self._logits(videos, None, text), labels)}
        cfg = self.interpolation
        if cfg["enabled"] and cfg["weight"] > 0 and self.training:
            ratio = random.uniform(cfg["low"], cfg["high"])
            mixed = self._logits(videos, self.mixed_weights(ratio), text)
            losses["loss_interpolated"] = cfg["weight"] * F.cross_entropy(mixed, labels)
        return losses

    def param_groups(self, base_lr: float, weight_decay: float) -> list[dict]:
        """``SOLVER.ZERO_WD_1D_PARAM``: no weight decay for 1-D parameters and biases; decay for the rest."""
        decay, no_decay = [], []
        for name, parameter in self.named_parameters():
            if parameter.requires_grad:
                (no_decay if parameter.ndim == 1 or name.endswith(".bias") else decay).append(parameter)
        groups = [dict(params=decay, lr=base_lr, weight_decay=weight_decay),
                  dict(params=no_decay, lr=base_lr, weight_decay=0.0)]
        return [group for group in groups if group["params"]]


def _key(name: str) -> str:
    return name.replace(".", "__")


def neighbour_attention_extra_macs(tokens: int, width: int, layers: int, frames: int) -> int:
    """MACs the neighbour-frame attention adds to CLIP per view: q·kᵀ and attn·v over 3·L keys instead of L
    (2·L·2L·D more per layer and frame); the projections are CLIP's own."""
    return 4 * tokens * tokens * width * layers * frames


