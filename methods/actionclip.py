"""ActionCLIP (Wang, Xing & Liu, arXiv 2109.08472), rebuilt on an open_clip CLIP from sallymmx/ActionCLIP.

What the official code does (``train.py``, ``test.py``, ``modules/Visual_Prompt.py``, ``utils/Text_Prompt.py``,
``utils/solver.py``, ``utils/KLLoss.py``) and this module reproduces:

- both CLIP towers are fine-tuned (``fix_text: False``), logit_scale included; frames go through the image
  encoder independently (``encode_image`` on B·T images);
- a post-network fusion head (``visual_prompt``, config ``network.sim_header``) turns the T projected frame
  embeddings into one video embedding: ``meanP`` | ``Conv1D`` | ``LSTM`` | ``Transf`` (default everywhere) |
  ``Transf_cls``;
- text = one of 16 templates per class; in training every sample draws its own random template and the
  contrastive batch is video i ↔ text of sample i; the loss is the symmetric KL loss with the same-class matrix
  as soft target (``harness.method.kl_contrastive_loss``);
- test: ``softmax(100·cos)`` over the classes for each of the 16 templates, averaged (``test.py`` hard-codes the
  100, it does not use the trained logit_scale);
- AdamW groups: text tower (and logit_scale) at lr, visual tower at lr·ratio, fusion head at lr·f_ratio, one
  weight decay for all (0.2).

Departures from the official code are listed in ``DEPARTURES``.
"""
from __future__ import annotations

import random
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.method import VideoCLIPMethod, kl_contrastive_loss

#: ``sallymmx/ActionCLIP:utils/Text_Prompt.py`` — the 16 text templates, in the official order.
ACTIONCLIP_TEMPLATES = (
    "a photo of action {}",
    "a picture of action {}",
    "Human action of {}",
    "{}, an action",
    "{} this is an action",
    "{}, a video of action",
    "Playing action of {}",
    "{}",
    "Playing a kind of action, {}",
    "Doing a kind of action, {}",
    "Look, the human is {}",
    "Can you recognize the action of {}?",
    "Video classification of {}",
    "A video of {}",
    "The man is {}",
    "The woman is {}",
)

#: fusion heads; the official ``sim_header`` spellings are accepted as aliases
FUSION_TYPES = ("meanP", "Conv1D", "LSTM", "Transf", "Transf_cls")
_FUSION_ALIASES = {"Conv_1D": "Conv1D", "conv1d": "Conv1D", "meanp": "meanP", "mean": "meanP", "lstm": "LSTM",
                   "transf": "Transf", "transf_cls": "Transf_cls"}

DEPARTURES = (
    "Conv1D: the official forward reshapes (B, T, D) to (B, D, T) with .view (not a transpose), which mixes "
    "time and channels; here the convolution runs over time as documented (option conv1d_official_view=true "
    "restores the official reshape).",
    "Conv1D / LSTM: the official head also builds an unused frame_position_embeddings nn.Embedding(77, D) "
    "(39,424 parameters at D=512, never in the forward); it is not built here.",
    "Transf heads = text width // 64 as the official code (8 at B/16); at least 1 for tiny backbones.",
    "Training picks the random template per sample with Python's random (the official code uses numpy).",
    "Attention runs batch-first (same weights and values as the official sequence-first layout); fp32 weights "
    "(the official CUDA path keeps fp16 weights and steps in fp32).",
)


class TFLayerNorm(nn.LayerNorm):
    """``Visual_Prompt.LayerNorm``: TF-style LayerNorm (epsilon inside the square root, eps 1e-12).

    ``nn.LayerNorm`` computes exactly that; the subclass only fixes the epsilon and marks the type for the
    official initialisation.
    """

    def __init__(self, width: int, eps: float = 1e-12):
        super().__init__(width, eps=eps)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class TemporalBlock(nn.Module):
    """``Visual_Prompt.ResidualAttentionBlock``: pre-LN attention + QuickGELU MLP, both residual (batch first)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = TFLayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = TFLayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ClsTemporalTransformer(nn.Module):
    """``Visual_Prompt.TAggregate`` (``Transf_cls``): CLS token + positions + torch TransformerEncoder (6 layers,
    8 heads, torch defaults: ReLU, FFN 2048, dropout 0.1) + final LayerNorm; the CLS output is the video."""

    def __init__(self, frames: int, width: int, layers: int = 6, heads: int = 8):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=width, nhead=heads)
        self.transformer_enc = nn.TransformerEncoder(layer, num_layers=layers, norm=nn.LayerNorm(width),
                                                     enable_nested_tensor=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, frames + 1, width))
        with torch.no_grad():  # the official trunc_normal_ is normal().fmod_(2)·std
            self.pos_embed.normal_().fmod_(2).mul_(0.02)
            self.cls_token.normal_().fmod_(2).mul_(0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                with torch.no_grad():
                    module.weight.normal_().fmod_(2).mul_(0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.zeros_(module.bias)
                nn.init.ones_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.transformer_enc(x.transpose(0, 1))[0]


class FrameFusion(nn.Module):
    """ActionCLIP's post-network prompt (``modules/Visual_Prompt.py: visual_prompt``): (B, T, D) → (B, D)."""

    def __init__(self, kind: str, embed_dim: int, frames: int, heads: int, context_length: int = 77,
                 layers: int = 6, conv1d_official_view: bool = False):
        super().__init__()
        kind = _FUSION_ALIASES.get(kind, kind)
        if kind not in FUSION_TYPES:
            raise HarnessError(f"unknown ActionCLIP fusion {kind!r}; choose one of {', '.join(FUSION_TYPES)}")
        self.kind = kind
        self.conv1d_official_view = bool(conv1d_official_view)
        if kind == "Transf":
            if frames > context_length:
                raise HarnessError(f"ActionCLIP's Transf fusion has {context_length} frame positions (the text "
                                   f"context length), got frames={frames}")
            self.frame_position_embeddings = nn.Embedding(context_length, embed_dim)
            self.transformer = nn.Sequential(*[TemporalBlock(embed_dim, heads) for _ in range(layers)])
        elif kind == "LSTM":
            self.lstm_visual = nn.LSTM(input_size=embed_dim, hidden_size=embed_dim, batch_first=True,
                                       bidirectional=False, num_layers=1)
        self.apply(self._init_weights)  # the official init_weights (before Transf_cls and Conv_1D are built)
        if kind == "Transf_cls":
            self.transformer = ClsTemporalTransformer(frames, embed_dim, layers=layers)
        elif kind == "Conv1D":
            self.shift = nn.Conv1d(embed_dim, embed_dim, 3, padding=1, groups=embed_dim, bias=False)
            weight = torch.zeros(embed_dim, 1, 3)
            quarter, half = embed_dim // 4, embed_dim // 2
            weight[:quarter, 0, 0] = 1.0                    # x[t-1]
            weight[quarter:quarter + half, 0, 1] = 1.0      # x[t]
            weight[-embed_dim // 4:, 0, 2] = 1.0            # x[t+1] (Python floor division, as the official)
            self.shift.weight = nn.Parameter(weight)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=0.02)
        elif isinstance(module, TFLayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, frames, channels = x.shape
        original = x
        if self.kind == "meanP":
            pass
        elif self.kind == "Conv1D":
            if self.conv1d_official_view:
                y = self.shift(x.contiguous().view(batch, channels, frames).float())
            else:
                y = self.shift(x.transpose(1, 2).float())
            x = y.permute(0, 2, 1).to(original.dtype) + original
        elif self.kind == "Transf":
            positions = torch.arange(frames, dtype=torch.long, device=x.device)
            x = x + self.frame_position_embeddings(positions).unsqueeze(0)
            x = self.transformer(x).to(original.dtype) + original
        elif self.kind == "LSTM":
            y, _ = self.lstm_visual(x.float())
            x = y.to(original.dtype) + original
        else:  # Transf_cls
            return self.transformer(x).to(original.dtype)
        return x.mean(dim=1)


class ActionCLIP(VideoCLIPMethod):
    """ActionCLIP: fully fine-tuned CLIP + a temporal fusion head + 16 text templates + the symmetric KL loss."""

    default_normalization = "clip"

    def __init__(self, backbone: dict | None = None, frames: int = 8, text: dict | None = None,
                 normalization: str | None = None, fusion: str = "Transf", fusion_layers: int = 6,
                 visual_lr_ratio: float = 1.0, fusion_lr_ratio: float = 10.0,
                 test_logit_scale: float | None = 100.0, conv1d_official_view: bool = False, **unused):
        text = dict(text or {})
        text.setdefault("templates", list(ACTIONCLIP_TEMPLATES))
        text.setdefault("train_template", "random")
        super().__init__(backbone=backbone, frames=frames, text=text, normalization=normalization, **unused)
        embed_dim = int(self.clip.text_projection.shape[1]) if isinstance(self.clip.text_projection, torch.Tensor) \
            else int(self.clip.visual.output_dim)
        text_width = int(self.clip.transformer.width)
        heads = max(1, text_width // 64)
        if embed_dim % heads:
            heads = 1
        self.fusion = FrameFusion(fusion, embed_dim, self.frames, heads,
                                  context_length=int(getattr(self.clip, "context_length", 77)),
                                  layers=int(fusion_layers), conv1d_official_view=conv1d_official_view)
        self.visual_lr_ratio = float(visual_lr_ratio)
        self.fusion_lr_ratio = float(fusion_lr_ratio)
        self.test_logit_scale = None if test_logit_scale is None else float(test_logit_scale)
        # full fine-tuning: every CLIP parameter (both towers, logit_scale) and the fusion head train
        self.freeze_all_but(lambda name: True)

    # ----------------------------------------------------------------- official checkpoints
    OFFICIAL_SIGNATURE = (r"^fusion_model_state_dict:",)

    def official_layout(self):
        """``utils/saving.py`` saves ``{'epoch', 'model_state_dict': CLIP.state_dict(), 'fusion_model_state_dict':
        fusion_model.state_dict(), 'optimizer_state_dict'}``: the CLIP with OpenAI names (fp16 Linear/Conv/attention
        weights, ``convert_weights``), the fusion head ``visual_prompt`` wrapped in DataParallel (``module.``).
        Its ``Transf`` blocks sit in ``transformer.resblocks`` (here ``fusion.transformer``); its
        ``frame_position_embeddings`` exists for every head but ``meanP`` and is used by ``Transf`` only."""
        from harness.models.checkpoints import OPENAI_CLIP, OfficialLayout, Section, openai_fp16, rules

        kind = self.fusion.kind
        fusion_rules = {"meanP": (), "Conv1D": (("shift.", "fusion.shift."),),
                        "LSTM": (("lstm_visual.", "fusion.lstm_visual."),),
                        "Transf": (("frame_position_embeddings.", "fusion.frame_position_embeddings."),
                                   ("transformer.resblocks.", "fusion.transformer.")),
                        "Transf_cls": (("transformer.", "fusion.transformer."),)}[kind]
        unused = kind in ("Conv1D", "LSTM", "Transf_cls")

        def fillers(state: dict) -> dict:
            if not unused:
                return {}
            shape = (state["clip.positional_embedding"].shape[0], state["clip.text_projection"].shape[1])
            return {"fusion_model_state_dict": {"frame_position_embeddings.weight": torch.zeros(shape)}}

        return OfficialLayout(
            method="actionclip", name="ActionCLIP train.py checkpoint",
            source="sallymmx/ActionCLIP: utils/saving.py (epoch_saving, best_saving), modules/Visual_Prompt.py",
            sections=(Section("model_state_dict", OPENAI_CLIP, half=openai_fp16),
                      Section("fusion_model_state_dict", rules(*fusion_rules), wrapper="module.")),
            dropped=((r"frame_position_embeddings\.weight",
                      f"built by the official {kind} head but never used in its forward"),) if unused else (),
            fillers=fillers, frame_tensors=((r"fusion\.transformer\.pos_embed", 1, 1),),
            unsupported=((r"visual\.time_embedding", "the joint space-time prompt (network.joint)"),
                         (r".*\.net\..*", "the temporal-shift (network.tsm) visual blocks")))

    # ----------------------------------------------------------------- video side
    def video_embeddings(self, videos: torch.Tensor) -> torch.Tensor:
        return self.fusion(self.encode_frames(videos))

    # ----------------------------------------------------------------- scores
    def scores_from_encoding(self, encoding: torch.Tensor) -> torch.Tensor:
        """``test.py``: softmax(100·cos) per template, averaged over the templates."""
        video = F.normalize(encoding, dim=-1)
        scale = self.test_logit_scale if self.test_logit_scale is not None else self.logit_scale()
        per_template = [F.softmax(scale * video @ t.t(), dim=-1) for t in self.all_template_features()]
        return torch.stack(per_template).mean(dim=0)

    # ----------------------------------------------------------------- training
    def sample_templates(self, batch: int) -> list[int]:
        """Template index per sample: random per sample (official) or the first one."""
        count = len(self.text_cfg["templates"])
        if self.text_cfg.get("train_template") == "random":
            return [random.randrange(count) for _ in range(batch)]
        return [0] * batch

    def loss(self, videos: torch.Tensor, labels: torch.Tensor) -> dict:
        video = F.normalize(self.video_embeddings(videos), dim=-1)
        templates = self.text_cfg["templates"]
        prompts = [templates[j].format(self.class_phrase(int(label)))
                   for label, j in zip(labels.tolist(), self.sample_templates(len(labels)))]
        text = F.normalize(self.encode_text(self.tokenize(prompts)), dim=-1)
        logits_per_video = self.logit_scale() * video @ text.t()
        return {"loss_kl": kl_contrastive_loss(logits_per_video, labels)}

    def param_groups(self, base_lr: float, weight_decay: float) -> list[dict]:
        """``utils/solver.py`` (adamw): text (+ logit_scale) at lr, visual at lr·ratio, fusion at lr·f_ratio."""
        groups: dict[str, list] = {"text": [], "visual": [], "fusion": []}
        for name, parameter in self.named_parameters():
            if not parameter.requires_grad:
                continue
            if name.startswith("fusion."):
                groups["fusion"].append(parameter)
            elif name.startswith("clip.visual."):
                groups["visual"].append(parameter)
            else:
                groups["text"].append(parameter)
        ratios = {"text": 1.0, "visual": self.visual_lr_ratio, "fusion": self.fusion_lr_ratio}
        return [dict(params=params, lr=base_lr * ratios[key], weight_decay=weight_decay, name=key)
                for key, params in groups.items() if params]
