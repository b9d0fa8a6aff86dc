"""ActionCLIP (methods/actionclip.py) against methods.md §1.3 / §2.3 and sallymmx/ActionCLIP: parameter counts at
ViT-B/16, the 16 templates, the fusion heads (Conv1D shift init), template-averaged test scores, the per-sample
template KL loss, learning-rate groups, training, and the three mmengine modes."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
import yaml
from mmaction.structures import ActionDataSample

from harness.errors import HarnessError
from harness.method import NORMALISATION, kl_contrastive_loss
from harness.models.methods_registry import method_config_path
from methods.actionclip import ACTIONCLIP_TEMPLATES, FUSION_TYPES, ActionCLIP, FrameFusion

TOY = dict(name="toy-vit", pretrained="none")
FRAMES = 4
CLASSES = ["jumping jacks", "waving hands", "sliding left", "spinning"]


def toy(**options) -> ActionCLIP:
    torch.manual_seed(0)
    method = ActionCLIP(backbone=TOY, frames=FRAMES, **options)
    method.set_class_names(CLASSES)
    return method


def videos(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, FRAMES, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vit_b16():
    return ActionCLIP(backbone=dict(name="ViT-B-16", pretrained="none"), frames=8)


# ----------------------------------------------------------------------------- full size
def test_vit_b16_transf_trainable_parameters(vit_b16):
    counts = vit_b16.parameter_counts()
    assert counts["trainable_params"] == pytest.approx(168.6e6, rel=0.01)
    assert counts["trainable_params"] == counts["total_params"]           # full fine-tuning, logit_scale too
    # Transf: nn.Embedding(77, 512) + 6 blocks × 3,152,384 = 18,953,728 (methods.md §1.3: 18.95M)
    assert sum(p.numel() for p in vit_b16.fusion.parameters()) == 77 * 512 + 6 * 3_152_384
    assert vit_b16.fusion.frame_position_embeddings.num_embeddings == 77
    block = vit_b16.fusion.transformer[0]
    assert block.attn.num_heads == 8 and block.ln_1.eps == 1e-12
    assert len(vit_b16.fusion.transformer) == 6


def test_vit_b16_param_groups(vit_b16):
    groups = {g["name"]: g for g in vit_b16.param_groups(5e-6, 0.2)}
    assert groups["text"]["lr"] == 5e-6 and groups["visual"]["lr"] == 5e-6 and groups["fusion"]["lr"] == 5e-5
    assert all(g["weight_decay"] == 0.2 for g in groups.values())
    ids = [id(p) for g in groups.values() for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(vit_b16.parameters()))
    assert any(p is vit_b16.clip.logit_scale for p in groups["text"]["params"])           # solver.py: text group
    assert all(name.startswith("clip.visual.") == any(p is q for q in groups["visual"]["params"])
               for name, p in vit_b16.named_parameters())


# ----------------------------------------------------------------------------- text
def test_sixteen_templates_in_the_class_and_the_config():
    assert len(ACTIONCLIP_TEMPLATES) == 16 and len(set(ACTIONCLIP_TEMPLATES)) == 16
    assert ACTIONCLIP_TEMPLATES[0] == "a photo of action {}" and ACTIONCLIP_TEMPLATES[-1] == "The woman is {}"
    config = yaml.safe_load(method_config_path("actionclip").read_text())
    assert tuple(config["model"]["text"]["templates"]) == ACTIONCLIP_TEMPLATES
    assert config["model"]["text"]["train_template"] == "random"
    method = ActionCLIP(backbone=TOY, frames=FRAMES)                      # the class default is the same list
    assert tuple(method.text_cfg["templates"]) == ACTIONCLIP_TEMPLATES
    mean = method.data_preprocessor.mean.flatten() / 255
    assert torch.allclose(mean, torch.tensor(NORMALISATION["clip"][0]))


def test_test_scores_average_the_softmax_of_every_template():
    method = toy().eval()
    batch = videos(3)
    with torch.no_grad():
        scores = method.class_scores(batch)
        video = F.normalize(method.video_embeddings(batch), dim=-1)
        expected = torch.stack([F.softmax(100.0 * video @ method.text_features(t).t(), dim=-1)
                                for t in ACTIONCLIP_TEMPLATES]).mean(0)
    assert method.all_template_features().shape[0] == 16
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.allclose(scores.sum(-1), torch.ones(3), atol=1e-5)


def test_loss_uses_one_random_template_per_sample(monkeypatch):
    method = toy()
    seen = []
    original = method.encode_text

    def recording(tokens):
        seen.append(tokens.shape[0])
        return original(tokens)

    monkeypatch.setattr(method, "encode_text", recording)
    random.seed(3)
    indices = method.sample_templates(64)
    assert len(set(indices)) > 4 and all(0 <= i < 16 for i in indices)
    labels = torch.tensor([0, 1, 1, 3])
    method.loss(videos(4), labels)
    assert seen == [4]                                                   # one text per sample, not per class
    method.text_cfg["train_template"] = "first"
    assert method.sample_templates(5) == [0] * 5


def test_loss_is_the_symmetric_kl_over_the_batch(monkeypatch):
    method = toy(text=dict(templates=["{}"], train_template="first"))
    batch, labels = videos(4), torch.tensor([0, 1, 1, 3])
    with torch.no_grad():
        video = F.normalize(method.video_embeddings(batch), dim=-1)
        text = F.normalize(method.encode_text(method.tokenize([CLASSES[i] for i in labels.tolist()])), dim=-1)
        expected = kl_contrastive_loss(method.logit_scale() * video @ text.t(), labels)
        assert method.loss(batch, labels)["loss_kl"].item() == pytest.approx(expected.item(), rel=1e-5)


# ----------------------------------------------------------------------------- fusion heads
@pytest.mark.parametrize("kind", FUSION_TYPES)
def test_fusion_heads_build_and_run(kind):
    torch.manual_seed(0)
    head = FrameFusion(kind, embed_dim=32, frames=FRAMES, heads=1, context_length=16, layers=2)
    x = torch.randn(3, FRAMES, 32, requires_grad=True)
    y = head(x)
    assert y.shape == (3, 32) and torch.isfinite(y).all()
    y.sum().backward()
    if kind == "meanP":
        assert torch.allclose(y, x.mean(1)) and not list(head.parameters())
        assert torch.allclose(x.grad, torch.full_like(x, 1 / FRAMES))
    else:
        assert all(p.grad is not None for p in head.parameters())


def test_fusion_heads_in_the_method():
    for kind in ("meanP", "Conv_1D", "LSTM"):                            # official spellings accepted
        method = toy(fusion=kind)
        with torch.no_grad():
            embedding = method.video_embeddings(videos(2))
        assert embedding.shape == (2, method.clip.visual.output_dim) and torch.isfinite(embedding).all()
    meanp = toy(fusion="meanP")
    with torch.no_grad():
        assert torch.allclose(meanp.video_embeddings(videos(2)), meanp.encode_frames(videos(2)).mean(1))
    with pytest.raises(HarnessError, match="fusion"):
        toy(fusion="Transformer")


def test_conv1d_is_initialised_as_a_temporal_shift():
    head = FrameFusion("Conv1D", embed_dim=8, frames=5, heads=1)
    weight = head.shift.weight.detach()[:, 0]                            # (D, 3): taps x[t-1], x[t], x[t+1]
    assert weight.shape == (8, 3) and head.shift.bias is None and head.shift.groups == 8
    assert torch.equal(weight[:2], torch.tensor([[1.0, 0, 0]] * 2))
    assert torch.equal(weight[2:6], torch.tensor([[0, 1.0, 0]] * 4))
    assert torch.equal(weight[6:], torch.tensor([[0, 0, 1.0]] * 2))
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        y = head(x)
    previous = torch.cat([torch.zeros(2, 1, 8), x[:, :-1]], dim=1)
    following = torch.cat([x[:, 1:], torch.zeros(2, 1, 8)], dim=1)
    shifted = torch.cat([previous[..., :2], x[..., 2:6], following[..., 6:]], dim=-1)
    assert torch.allclose(y, (shifted + x).mean(1), atol=1e-6)          # shift + residual, then mean
    official = FrameFusion("Conv1D", embed_dim=8, frames=5, heads=1, conv1d_official_view=True)
    with torch.no_grad():
        assert not torch.allclose(official(x), y)                         # the official .view mixes axes


def test_transf_head_is_the_residual_temporal_transformer():
    head = FrameFusion("Transf", embed_dim=32, frames=FRAMES, heads=1, context_length=16, layers=2)
    assert head.frame_position_embeddings.weight.std().item() == pytest.approx(0.02, rel=0.3)
    assert all(torch.equal(b.ln_1.weight, torch.ones(32)) for b in head.transformer)
    x = torch.randn(2, FRAMES, 32)
    with torch.no_grad():
        positions = head.frame_position_embeddings(torch.arange(FRAMES))
        expected = (head.transformer(x + positions) + x).mean(1)
        assert torch.allclose(head(x), expected, atol=1e-6)
    with pytest.raises(HarnessError, match="frame positions"):
        FrameFusion("Transf", embed_dim=32, frames=20, heads=1, context_length=16)


# ----------------------------------------------------------------------------- training
def test_training_step_moves_every_parameter_and_the_loss_decreases():
    method = toy().train()
    assert all(p.requires_grad for p in method.parameters())
    before = {name: p.detach().clone() for name, p in method.named_parameters()}
    optimizer = torch.optim.AdamW(method.param_groups(1e-4, 0.2), betas=(0.9, 0.98), eps=1e-8)
    batch, labels = videos(4, seed=2), torch.tensor([0, 1, 2, 3])
    method.text_cfg["train_template"] = "first"                          # a fixed target for the decrease check
    history = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = method.loss(batch, labels)["loss_kl"]
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < history[0]
    moved = {name for name, p in method.named_parameters() if not torch.equal(p.detach(), before[name])}
    # every parameter that takes part in the forward moves (token rows of unused words get zero gradient but
    # weight decay still moves them)
    assert moved == set(before)


def test_forward_in_the_three_mmengine_modes():
    method = toy()
    frames = torch.randint(0, 256, (3, 2 * FRAMES, 3, 32, 32), dtype=torch.uint8)   # 2 views per video
    samples = []
    for label in (0, 1, 3):
        sample = ActionDataSample()
        sample.set_gt_label(label)
        samples.append(sample)
    data = method.data_preprocessor(dict(inputs=list(frames), data_samples=samples), training=True)
    assert data["inputs"].shape == (3, 2, FRAMES, 3, 32, 32)
    method.train()
    losses = method(**data, mode="loss")
    assert set(losses) == {"loss_kl"} and torch.isfinite(losses["loss_kl"])
    losses["loss_kl"].backward()
    method.eval()
    with torch.no_grad():
        assert method(data["inputs"], mode="tensor").shape == (3, len(CLASSES))
        predicted = method(**data, mode="predict")
    assert all(s.pred_score.shape == (len(CLASSES),) for s in predicted)
    assert all(s.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5) for s in predicted)
