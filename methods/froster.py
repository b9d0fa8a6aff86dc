"""FROSTER (Visual-AI/FROSTER, ICLR 2024; built on wengzejia1/Open-VCLIP). Read: ``slowfast/models/
temporalclip_video_model.py`` (``TemporalClipVideo``: student, frozen ``raw_model``, ``projector_v`` /
``projector_t``, text templates, test path), ``slowfast/models/customize_visiontransformer.py``
(``TimesAttentionBlock``, ``TSTransformer``, ``TemporalVisionTransformer``), ``tools/train_net.py`` (the loss),
``weight_average_tool.py`` (test-time weight averaging), ``configs/Kinetics/TemporalCLIP_vitb16_8x16_STAdapter
{,_HMDB51}.yaml``, ``script/training/temporal_b16/train_clip{,_B2N_hmdb}.sh``, ``script/testing/temporal_test_b16/
{ucf_clip,hmdb_clip_B2N}.sh``, ``label_rephrase/hmdb_rephrased_classes.json``, ``README.md``. FROSTER's
``slowfast/models/torch_utils/{activation,functional}.py`` are stored only compiled, so the neighbour-frame
attention was read in Open-VCLIP's copy (``wengzejia1/Open-VCLIP:slowfast/models/torch_utils/functional.py``,
``_scaled_dot_product_attention``, branch ``expand_temporal_view``) and its optimizer groups in
``wengzejia1/Open-VCLIP:slowfast/models/optimizer.py``.

**Student** (trained, every parameter: both towers, the token table and ``logit_scale`` — ``TemporalClipVideo``
sets ``requires_grad = True`` on all of ``self.model``): CLIP whose visual blocks use *neighbour-frame attention*
(``MODEL.TEMPORAL_MODELING_TYPE expand_temporal_view``): in every visual block the queries of frame t attend
over the keys/values of frame t+1, frame t−1 and frame t (3·L keys). The neighbour of a first/last frame is a
block of **zero** keys and values, which is *not* masked: those positions score q·0 = 0 and take part in the
softmax with a zero value, as in the official code. No new parameters; the text tower is standard. Each frame's
projected CLS embedding is normalised and scored against the class texts; the **logits are averaged over the
frames** (``pred.reshape(bz, clip_len, -1).mean(1)``), not the features.

**Teacher** ``raw_model`` (frozen): a second copy of the pretrained CLIP, frame-wise (no temporal attention),
kept in eval mode. **Residual feature distillation**: ``projector_v`` and ``projector_t``, each
Linear(D→D, no bias) → GELU → Linear(D→D, no bias) with D the joint embedding width (512 at B/16), the first
Kaiming-normal, the second zero (so each starts as the identity residual). With α = 0.1:
v' = v̂ + α·projector_v(v̂) per frame (v̂ the normalised student frame embeddings, B·T rows) and
t' = ĉ + α·projector_t(ĉ) per class (ĉ the student's class classifier below).

**Loss** (``tools/train_net.py``): cross-entropy of the frame-averaged logits + ``DISTILLATION_RATIO`` (2.0) ×
[(1 − cos(v', teacher frame embedding)).mean() + (1 − cos(t', teacher classifier)).mean()].

**Text** (``text_prompt`` / ``achieve_csf_matrix``): class labels are LLM-rephrased ``"Name: description"``
(``label_rephrase/*.json``); here the label is ``"{name}: {description}"`` with ``text.source: descriptions``,
or the bare name with ``names``. 28 templates "a photo of {}." … "a demonstration of a person practicing {}." are
filled with the part before the colon and followed by a space and the whole label; a last template "{}" is the
whole label alone. A class classifier is the normalised mean of the normalised per-template text features:
in training one random template of the 28 plus the last (drawn per step; student and teacher use the same
pair), at test all 29.

**Test-time rule**: the tested weights are ``wa_checkpoints/swa_2_22.pth``, the plain average of the
per-epoch checkpoints of epochs 2 … MAX_EPOCH (``weight_average_tool.py``: every CLIP and projector tensor;
``TEST.PATCHING_MODEL False``, so no interpolation with the zero-shot weights). Option ``weight_average``
does this during training (see :meth:`FROSTER._average_after_step`) and loads the average after the last step,
so the run's final checkpoint and ``final_state_dict.pth`` hold the averaged weights. The projectors and the
teacher are not used at test time.

**Optimizer** (Open-VCLIP ``construct_optimizer``, ``SOLVER.ZERO_WD_1D_PARAM True``): one AdamW group with
weight decay for every trainable tensor that is neither 1-D nor a ``.bias``; weight decay 0 for those
(``logit_scale`` is 0-D, so it is decayed, as there). Teacher parameters are not in the optimizer.

Departures (options or engine facts, see ``methods/configs/froster.yaml``): the loss is plain cross-entropy of
hard labels (``soft_cross_entropy`` with Mixup off; FROSTER's ``losses.py`` is stored only compiled); clip
sampling, jitter, warm-up start and multi-view aggregation are the harness's (views averaged as probabilities;
SlowFast sums logits over its 3 temporal views); under ``--resume`` the weight average restarts from the
resumed epoch (the running sum is not in the checkpoint). The neighbour-frame block here could later be shared
with ``methods/openvclip.py`` (same ``expand_temporal_view`` code path in both repositories).
"""
from __future__ import annotations

import copy
import random
import weakref

import torch
import torch.optim.optimizer as torch_optimizer
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock
from torch import nn

from harness.errors import HarnessError
from harness.method import VideoCLIPMethod
from methods.openvclip import NeighbourFrameBlock as OpenVCLIPBlock, neighbour_frame_attention  # noqa: F401

#: ``text_prompt``'s 28 templates (filled with the label's part before the colon, then " " + the whole label)
TEMPLATES = tuple(f"a {kind} of {who}{{}}." for kind in ("photo", "video", "example", "demonstration")
                  for who in ("", "a person ", "a person using ", "a person doing ", "a person during ",
                              "a person performing ", "a person practicing "))
LAST_TEMPLATE = "{}"  # the whole label alone
DEFAULT_TEXT = dict(source="descriptions", templates=[*TEMPLATES, LAST_TEMPLATE], train_template="froster")
DEFAULT_AVERAGE = dict(enabled=True, start_epoch=2)
TEMPORAL_TYPES = ("expand_temporal_view", "none")
AVERAGE_KEY = "froster_weight_average"  # marks the optimizer groups built by FROSTER.param_groups


# ----------------------------------------------------------------------------------------------- modules
class NeighbourFrameBlock(OpenVCLIPBlock):
    """Open-VCLIP's neighbour-frame block (FROSTER's student is Open-VCLIP's video model), its frame count
    fixed when the student is built."""

    def __init__(self, block: ResidualAttentionBlock, frames: int):
        super().__init__(block)
        self.frames = int(frames)


def residual_projector(width: int) -> nn.Sequential:
    """``projector_v`` / ``projector_t``: Linear → GELU → Linear (no biases), Kaiming-normal then zero init."""
    projector = nn.Sequential(nn.Linear(width, width, bias=False), nn.GELU(), nn.Linear(width, width, bias=False))
    nn.init.kaiming_normal_(projector[0].weight)
    nn.init.zeros_(projector[2].weight)
    return projector


# ----------------------------------------------------------------------------------------------- weight averaging
_AVERAGING: "weakref.WeakSet[FROSTER]" = weakref.WeakSet()
_STEP_HOOK = None


def _after_optimizer_step(optimizer, args, kwargs) -> None:
    for method in list(_AVERAGING):
        method._average_after_step(optimizer)


def _install_step_hook() -> None:
    global _STEP_HOOK
    if _STEP_HOOK is None:
        _STEP_HOOK = torch_optimizer.register_optimizer_step_post_hook(_after_optimizer_step)


# ----------------------------------------------------------------------------------------------- method
class FROSTER(VideoCLIPMethod):
    """FROSTER on an open_clip ViT. Options (``model:`` of ``methods/configs/froster.yaml``):

    - ``temporal``: ``expand_temporal_view`` (official) or ``none`` (frame-wise student).
    - ``distillation`` (true): keep the frozen teacher and the residual projectors and add the distillation
      loss; false is the plain fine-tuned student (the teacher is then not built).
    - ``distillation_weight`` (2.0, ``MODEL.DISTILLATION_RATIO``), ``residual_alpha`` (0.1, hard-coded there).
    - ``weight_average``: ``{enabled: true, start_epoch: 2}`` — average the weights at the end of epochs
      ``start_epoch`` … last and test the average (``weight_average_tool.py``, ``wa_start = 2``).
    """

    default_normalization = "clip"

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None, temporal: str = "expand_temporal_view",
                 distillation: bool = True, distillation_weight: float = 2.0, residual_alpha: float = 0.1,
                 weight_average: dict | None = None):
        super().__init__(backbone=backbone, frames=frames, text={**DEFAULT_TEXT, **(text or {})},
                         normalization=normalization)
        if temporal not in TEMPORAL_TYPES:
            raise HarnessError(f"FROSTER temporal must be one of {', '.join(TEMPORAL_TYPES)}, got {temporal!r}")
        unknown = set(weight_average or {}) - set(DEFAULT_AVERAGE)
        if unknown:
            raise HarnessError(f"unknown FROSTER weight_average option(s) {', '.join(sorted(unknown))}; valid: "
                               f"{', '.join(DEFAULT_AVERAGE)}")
        if len(self.text_cfg["templates"]) < 2 and self.text_cfg["train_template"] == "froster":
            raise HarnessError("FROSTER's train_template 'froster' needs at least two templates (random + last)")
        self.temporal = temporal
        self.distillation = bool(distillation)
        self.distillation_weight = float(distillation_weight)
        self.residual_alpha = float(residual_alpha)
        self.weight_average = {**DEFAULT_AVERAGE, **(weight_average or {})}
        if self.distillation:  # the pretrained CLIP, frame-wise, before the student's blocks are changed
            self.raw_model = copy.deepcopy(self.clip)
            self.raw_model.requires_grad_(False)
            self.raw_model.eval()
        if temporal == "expand_temporal_view":
            transformer = self.clip.visual.transformer
            if not getattr(transformer, "batch_first", True):
                raise HarnessError("FROSTER expects open_clip's batch-first visual transformer")
            transformer.resblocks = nn.ModuleList(NeighbourFrameBlock(b, self.frames) for b in transformer.resblocks)
        embed_dim = int(self.clip.text_projection.shape[-1]) if hasattr(self.clip, "text_projection") \
            else int(self.clip.visual.output_dim)
        self.projector_v = residual_projector(embed_dim)
        self.projector_t = residual_projector(embed_dim)
        self.freeze_all_but(lambda name: not name.startswith("raw_model."))
        self._average_reset()

    def train(self, mode: bool = True):
        super().train(mode)
        if getattr(self, "distillation", False):
            self.raw_model.eval()  # "ensure eval state all the time"
        return self

    # ------------------------------------------------------------------ text
    def label(self, index: int) -> str:
        """The class label as FROSTER's rephrased json holds it: ``"Name: description"`` (or the bare name)."""
        name = self.class_names[index]
        if self.text_cfg["source"] == "descriptions":
            description = (self.descriptions or {}).get(name)
            return f"{name}: {description}" if description and description != name else name
        return name

    def prompts(self, template: str) -> list[str]:
        labels = [self.label(i) for i in range(len(self.class_names))]
        if template == LAST_TEMPLATE:
            return labels
        return [template.format(label.split(":")[0]) + " " + label for label in labels]

    def classifier(self, templates, encode=None) -> torch.Tensor:
        """(C, D): normalised mean over ``templates`` of the normalised class text features (``achieve_csf_matrix``)."""
        encode = encode or self.encode_text
        per_template = [F.normalize(encode(self.tokenize(self.prompts(t))), dim=-1) for t in templates]
        return F.normalize(torch.stack(per_template).mean(dim=0), dim=-1)

    def train_templates(self) -> list[str]:
        templates = self.text_cfg["templates"]
        if self.text_cfg.get("train_template") == "froster":
            return [random.choice(templates[:-1]), templates[-1]]
        if self.text_cfg.get("train_template") == "random":
            return [random.choice(templates)]
        return [templates[0]]

    def all_template_features(self) -> torch.Tensor:
        """(1, C, D): the test classifier, an ensemble over every template (cached in eval mode)."""
        if self.training or torch.is_grad_enabled():
            return self.classifier(self.text_cfg["templates"]).unsqueeze(0)
        if self._text_cache is None:
            self._text_cache = self.classifier(self.text_cfg["templates"]).unsqueeze(0)
        return self._text_cache

    def train_text_features(self) -> torch.Tensor:
        return self.classifier(self.train_templates())

    # ------------------------------------------------------------------ video
    def encode_frames(self, videos: torch.Tensor) -> torch.Tensor:
        if self.temporal != "none" and videos.shape[1] != self.frames:
            raise HarnessError(f"FROSTER was built for {self.frames} frames (its neighbour-frame attention groups "
                               f"frames per video) but got videos of {videos.shape[1]} frames")
        return super().encode_frames(videos)

    def video_embeddings(self, videos: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encode_frames(videos), dim=-1).mean(dim=1)

    def frame_logits(self, frames: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Normalised frame embeddings (B, T, D) × classifier (C, D) → frame-averaged logits (B, C)."""
        return (self.logit_scale() * frames @ text.t()).mean(dim=1)

    def logits(self, videos: torch.Tensor, text_features: torch.Tensor | None = None) -> torch.Tensor:
        text = text_features if text_features is not None else self.all_template_features()[0]
        return self.frame_logits(self.video_encoding(videos), text)

    def video_encoding(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, T, D) normalised frame embeddings (independent of the class set)."""
        return F.normalize(self.encode_frames(videos), dim=-1)

    def scores_from_encoding(self, encoding: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.frame_logits(encoding, self.all_template_features()[0]), dim=-1)

    # ------------------------------------------------------------------ training
    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        templates = self.train_templates()
        frames = F.normalize(self.encode_frames(videos), dim=-1)              # (B, T, D)
        text = self.classifier(templates)                                     # (C, D), with gradients
        losses = {"loss_cls": F.cross_entropy(self.frame_logits(frames, text), labels)}
        if self.distillation:
            with torch.no_grad():
                teacher_frames = F.normalize(self.raw_model.encode_image(videos.flatten(0, 1)), dim=-1)
                teacher_text = self.classifier(templates, self.raw_model.encode_text)
            student_frames = frames.flatten(0, 1)
            student_frames = student_frames + self.residual_alpha * self.projector_v(student_frames)
            student_text = text + self.residual_alpha * self.projector_t(text)
            video_term = 1 - F.cosine_similarity(student_frames, teacher_frames, dim=-1).mean()
            text_term = 1 - F.cosine_similarity(student_text, teacher_text, dim=-1).mean()
            losses["loss_distill_video"] = self.distillation_weight * video_term
            losses["loss_distill_text"] = self.distillation_weight * text_term
        return losses

    def param_groups(self, base_lr: float, weight_decay: float) -> list[dict]:
        decayed, plain = [], []
        for name, parameter in self.named_parameters():
            if parameter.requires_grad:
                (plain if parameter.ndim == 1 or name.endswith(".bias") else decayed).append(parameter)
        groups = [dict(params=decayed, lr=base_lr, weight_decay=weight_decay),
                  dict(params=plain, lr=base_lr, weight_decay=0.0)]
        groups = [g for g in groups if g["params"]]
        if self.weight_average["enabled"] and groups:
            for group in groups:
                group[AVERAGE_KEY] = True
            _AVERAGING.add(self)
            _install_step_hook()
        return groups

    # ------------------------------------------------------------------ test-time weight averaging
    def _average_reset(self) -> None:
        self._average_sum: dict[str, torch.Tensor] | None = None
        self._average_count = 0
        self._average_epochs: list[int] = []
        self._epochs_seen: int | None = None

    def _average_after_step(self, optimizer) -> None:
        """After each optimizer step of a harness training (groups from :meth:`param_groups`): at the first step
        that completes an epoch ≥ ``start_epoch``, add the weights to a running sum; after the last step of the
        training, load the average (``weight_average_tool.py``). Epochs come from mmengine's message hub."""
        groups = optimizer.param_groups
        if not groups or not groups[0].get(AVERAGE_KEY) or not groups[0]["params"]:
            return
        first = groups[0]["params"][0]
        if not any(first is p for p in self.parameters()):
            return
        from mmengine.logging import MessageHub

        hub = MessageHub.get_current_instance()
        step, max_iters, max_epochs = (hub.get_info(k) for k in ("iter", "max_iters", "max_epochs"))
        if step is None or not max_iters or not max_epochs:
            return
        per_epoch = max(1, int(max_iters) // int(max_epochs))
        done = (int(step) + 1) // per_epoch
        if self._epochs_seen is None:  # first step seen (a fresh or a resumed training)
            self._epochs_seen = int(step) // per_epoch
        if done > self._epochs_seen:
            self._epochs_seen = done
            if done >= int(self.weight_average["start_epoch"]):
                self._average_add(done)
        if int(step) + 1 >= int(max_iters):
            self._average_load()

    def _average_add(self, epoch: int) -> None:
        with torch.no_grad():
            current = {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}
            if self._average_sum is None:
                self._average_sum = {n: t.clone().double() for n, t in current.items()}
            else:
                for n, t in current.items():
                    self._average_sum[n] += t.double()
        self._average_count += 1
        self._average_epochs.append(epoch)

    def _average_load(self) -> None:
        """Replace the trainable weights by their average over the collected epochs (none collected: unchanged)."""
        if self._average_count:
            with torch.no_grad():
                for name, parameter in self.named_parameters():
                    if name in self._average_sum:
                        parameter.copy_((self._average_sum[name] / self._average_count).to(parameter.dtype))
            from mmengine.logging import print_log

            print_log(f"FROSTER: weights averaged over the ends of epochs {self._average_epochs} "
                      "(weight_average_tool.py)", logger="current")
            self.averaged_epochs = list(self._average_epochs)
            self._weights_fingerprint = None
            self._text_cache = None
        self._average_reset()
