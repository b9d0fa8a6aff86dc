"""The frozen CLIP baseline (methods/clip.py): nothing trainable, plain frame averaging, the three mmengine modes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample

from harness.method import NORMALISATION
from methods.clip import FrozenCLIP

TOY = dict(name="toy-vit", pretrained="none")
CLASSES = ["jumping jacks", "waving hands", "sliding left"]


@pytest.fixture(scope="module")
def method():
    torch.manual_seed(0)
    model = FrozenCLIP(backbone=TOY, frames=4)
    model.set_class_names(CLASSES)
    return model


def test_nothing_is_trainable(method):
    assert method.parameter_counts()["trainable_params"] == 0
    assert method.param_groups(1e-3, 0.2) == []


def test_vit_b16_builds_with_all_parameters_frozen():
    model = FrozenCLIP(backbone=dict(name="ViT-B-16", pretrained="none"))
    assert model.parameter_counts() == dict(total_params=149_620_737, trainable_params=0)
    assert model.input_size == 224 and model.frames == 8


def test_default_text_and_normalisation(method):
    assert method.prompts(method.text_cfg["templates"][0]) == [f"a photo of a {name}." for name in CLASSES]
    mean = method.data_preprocessor.mean.flatten() / 255
    assert torch.allclose(mean, torch.tensor(NORMALISATION["clip"][0]))
    custom = FrozenCLIP(backbone=TOY, frames=2, text=dict(templates=["{}", "a video of {}."]))
    custom.set_class_names(CLASSES)
    assert custom.prompts("a video of {}.")[1] == "a video of waving hands."


def test_video_embedding_is_the_mean_of_frame_embeddings(method):
    videos = torch.randn(2, 4, 3, 32, 32)
    method.eval()
    with torch.no_grad():
        frames = torch.stack([method.clip.encode_image(videos[:, t]) for t in range(4)], dim=1)
        assert torch.allclose(method.video_embeddings(videos), frames.mean(dim=1), atol=1e-5)
        text = F.normalize(method.clip.encode_text(method.tokenize(method.prompts("a photo of a {}."))), dim=-1)
        expected = method.clip.logit_scale.exp() * F.normalize(frames.mean(dim=1), dim=-1) @ text.t()
        assert torch.allclose(method.logits(videos), expected, atol=1e-4)


def test_training_mode_keeps_clip_in_eval(method):
    method.train()
    assert method.training and not method.clip.training
    method.eval()


def test_forward_in_the_three_mmengine_modes(method):
    frames = torch.randint(0, 256, (2, 4, 3, 32, 32), dtype=torch.uint8)
    samples = []
    for label in (0, 2):
        sample = ActionDataSample()
        sample.set_gt_label(label)
        samples.append(sample)
    data = method.data_preprocessor(dict(inputs=list(frames), data_samples=samples))
    losses = method(**data, mode="loss")
    assert torch.isfinite(losses["loss_cls"])
    method.eval()
    with torch.no_grad():
        assert method(data["inputs"], mode="tensor").shape == (2, len(CLASSES))
        predicted = method(**data, mode="predict")
    assert [s.pred_score.shape[0] for s in predicted] == [len(CLASSES)] * 2
    assert all(s.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5) for s in predicted)
