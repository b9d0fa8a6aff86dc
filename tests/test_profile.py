"""harness.models.profile: exact GMACs (engineering.md §3) and the ``profile`` command."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from harness.models import profile
from harness.models.profile import count_gmacs, profile_method
from methods.clip import FrozenCLIP


@pytest.fixture(scope="module")
def b16_clip():
    return FrozenCLIP(backbone=dict(name="ViT-B-16", pretrained="none"), frames=8)


def test_vit_b16_one_frame_visual_tower(b16_clip):
    assert count_gmacs(b16_clip.clip.visual, torch.randn(1, 3, 224, 224)) == pytest.approx(17.563, abs=0.01)


def test_fast_path_and_sdpa_pitfalls_are_handled():
    """In eval + no_grad, nn.MultiheadAttention takes a fast path no counter sees (it would count 0), and CPU SDPA
    has no FlopCounterMode formula; the recipe counts every projection and both attention matmuls."""
    attention = torch.nn.MultiheadAttention(64, 4, batch_first=True).train()
    x = torch.randn(1, 10, 64)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    macs = count_gmacs(lambda t: attention(t, t, t, need_weights=False), x) * 1e9
    assert macs == pytest.approx(10 * 64 * 3 * 64 + 2 * 10 * 10 * 64 + 10 * 64 * 64)
    attention.eval()
    assert count_gmacs(lambda t: attention(t, t, t, need_weights=False), x) * 1e9 == pytest.approx(macs)
    assert count_gmacs(attention, x, x, x) * 1e9 == pytest.approx(macs)
    assert torch.backends.mha.get_fastpath_enabled() == fastpath


def test_count_gmacs_restores_the_training_mode():
    layer = torch.nn.Linear(8, 4).train()
    count_gmacs(layer, torch.randn(2, 8))
    assert layer.training


def test_clip_eight_frames_and_text_tower(b16_clip):
    result = profile_method("clip", method=b16_clip)
    assert result["gmacs_per_view"] == pytest.approx(140.5, abs=0.1)
    assert result["text_gmacs"] == pytest.approx(2.98, abs=0.01)
    assert result["total_params"] == 149_620_737 and result["trainable_params"] == 0
    assert result["frames"] == 8 and result["input_size"] == 224 and result["backbone"] == "ViT-B-16"
    assert set(result) == {"method", "backbone", "frames", "total_params", "trainable_params", "gmacs_per_view",
                           "text_gmacs", "input_size", "units"}


def test_count_gmacs_of_a_method_with_trainable_parameter_views():
    """EZ-CLIP passes ``dropout(prompt[layer])`` (a view of a trainable parameter) to a module; FlopCounterMode's
    module tracker fails on that under no_grad unless the parameters are frozen while counting."""
    tiny = profile_method("ezclip", backbone="toy-vit", pretrained="none", frames=4)
    frozen = profile_method("clip", backbone="toy-vit", pretrained="none", frames=4)
    assert tiny["trainable_params"] > 0 and tiny["gmacs_per_view"] > frozen["gmacs_per_view"] > 0
    assert tiny["text_gmacs"] > frozen["text_gmacs"]  # the text adapters


def test_count_gmacs_restores_requires_grad():
    layer = torch.nn.Linear(8, 4)
    assert count_gmacs(layer, torch.randn(2, 8)) == pytest.approx(2 * 8 * 4 / 1e9)
    assert layer.weight.requires_grad and layer.bias.requires_grad


def test_profile_command(capsys):
    parser = argparse.ArgumentParser()
    profile.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["profile", "--method", "vificlip", "--backbone", "toy-vit", "--frames", "2", "--json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "vificlip" and result["frames"] == 2 and result["input_size"] == 32
    from harness.models.backbones import create_clip

    table = create_clip("toy-vit", pretrained="none").token_embedding.weight.numel()
    assert result["trainable_params"] == result["total_params"] - table  # only the token table is frozen
    args = parser.parse_args(["profile", "--method", "clip", "--backbone", "toy-vit"])
    assert args.func(args) == 0
    assert "GMACs per view" in capsys.readouterr().out
