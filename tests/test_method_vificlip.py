"""ViFi-CLIP (methods/vificlip.py) against methods.md §1.4: trainable set of each variant, frozen token table,
soft-target loss with label smoothing and Mixup/CutMix, training, and the three mmengine modes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample

from harness.errors import HarnessError
from harness.method import NORMALISATION
from methods.vificlip import ViFiCLIP, cutmix_mixup, smoothed_one_hot

TOY = dict(name="toy-vit", pretrained="none")
CLASSES = ["jumping jacks", "waving hands", "sliding left", "spinning"]


def toy(**options) -> ViFiCLIP:
    torch.manual_seed(0)
    method = ViFiCLIP(backbone=TOY, frames=4, **options)
    method.set_class_names(CLASSES)
    return method


def videos(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_vit_b16_trainable_parameters():
    method = ViFiCLIP(backbone=dict(name="ViT-B-16", pretrained="none"))
    counts = method.parameter_counts()
    assert counts["trainable_params"] == pytest.approx(124.3e6, rel=0.01)
    assert counts["trainable_params"] == counts["total_params"] - 49_408 * 512  # all but the token table
    assert method.clip.logit_scale.requires_grad


def test_variants():
    image, text = toy(variant="image"), toy(variant="text")
    image_names = {n for n, p in image.named_parameters() if p.requires_grad}
    text_names = {n for n, p in text.named_parameters() if p.requires_grad}
    assert image_names == {n for n, _ in image.named_parameters() if n.startswith("clip.visual.")}
    assert "clip.transformer.resblocks.0.attn.in_proj_weight" in text_names
    assert {"clip.positional_embedding", "clip.text_projection", "clip.ln_final.weight"} <= text_names
    assert not any(n.startswith("clip.visual.") or "token_embedding" in n or "logit_scale" in n for n in text_names)
    with pytest.raises(HarnessError, match="variant"):
        ViFiCLIP(backbone=TOY, frames=4, variant="visual")


def test_imagenet_normalisation_and_text():
    method = toy()
    mean = method.data_preprocessor.mean.flatten() / 255
    assert torch.allclose(mean, torch.tensor(NORMALISATION["imagenet"][0]))
    assert method.prompts(method.text_cfg["templates"][0])[0] == "a photo of a jumping jacks."


def test_smoothed_targets_and_blending():
    targets = smoothed_one_hot(torch.tensor([0, 2]), 4, 0.1)
    assert torch.allclose(targets[0], torch.tensor([0.925, 0.025, 0.025, 0.025]))
    torch.manual_seed(0)
    batch = videos(6)
    for switch in (0.0, 1.0):  # always Mixup, always CutMix
        mixed, soft = cutmix_mixup(batch, smoothed_one_hot(torch.arange(6) % 4, 4, 0.1), switch_prob=switch)
        assert mixed.shape == batch.shape and torch.allclose(soft.sum(dim=1), torch.ones(6))
    assert torch.equal(batch, videos(6))  # the input is not modified in place


def test_loss_without_mixup_is_label_smoothed_cross_entropy():
    method = toy(mixup=dict(enabled=False)).eval()
    batch, labels = videos(3), torch.tensor([0, 1, 3])
    with torch.no_grad():
        expected = F.cross_entropy(method.logits(batch, method.train_text_features()), labels, label_smoothing=0.1)
        assert method.loss(batch, labels)["loss_cls"].item() == pytest.approx(expected.item(), abs=1e-5)


def test_token_table_and_frozen_parameters_do_not_move():
    method = toy(variant="image", mixup=dict(enabled=False)).train()
    before = {name: p.detach().clone() for name, p in method.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.001)
    optimizer.zero_grad()
    method.loss(videos(4), torch.tensor([0, 1, 2, 3]))["loss_cls"].backward()
    assert method.clip.token_embedding.weight.grad is None
    assert all(p.grad is None for p in method.parameters() if not p.requires_grad)
    optimizer.step()
    for name, parameter in method.named_parameters():
        moved = not torch.equal(parameter.detach(), before[name])
        assert moved == parameter.requires_grad, name


def test_loss_decreases_on_a_fixed_batch():
    method = toy(mixup=dict(enabled=False)).train()
    assert not method.clip.token_embedding.weight.requires_grad
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-4)
    batch, labels = videos(4, seed=2), torch.tensor([0, 1, 2, 3])
    history = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = method.loss(batch, labels)["loss_cls"]
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < history[0]


def test_forward_in_the_three_mmengine_modes():
    method = toy()
    frames = torch.randint(0, 256, (3, 4, 3, 32, 32), dtype=torch.uint8)
    samples = []
    for label in (0, 1, 3):
        sample = ActionDataSample()
        sample.set_gt_label(label)
        samples.append(sample)
    data = method.data_preprocessor(dict(inputs=list(frames), data_samples=samples), training=True)
    method.train()
    loss = method(**data, mode="loss")["loss_cls"]  # with Mixup / CutMix
    assert torch.isfinite(loss)
    loss.backward()
    method.eval()
    with torch.no_grad():
        assert method(data["inputs"], mode="tensor").shape == (3, len(CLASSES))
        predicted = method(**data, mode="predict")
    assert all(s.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5) for s in predicted)
