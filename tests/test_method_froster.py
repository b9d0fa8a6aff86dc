"""FROSTER (methods/froster.py) against Visual-AI/FROSTER: the neighbour-frame block transcribed in the official
tensor layout, frozen teacher / trainable student and projectors, the loss, templates, the optimizer groups,
test-time weight averaging, the ViT-B/16 parameter count and GMACs against an analytic count."""
from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample
from mmengine.logging import MessageHub

from harness.models.profile import profile_method
from methods.froster import AVERAGE_KEY, FROSTER, NeighbourFrameBlock, TEMPLATES, neighbour_frame_attention

TOY = dict(name="toy-vit", pretrained="none")
CLASSES = ["jumping jacks", "waving hands", "sliding left", "spinning"]
DESCRIPTIONS = {name: f"a person is {name} in a video" for name in CLASSES}


def toy(**options) -> FROSTER:
    torch.manual_seed(0)
    method = FROSTER(backbone=TOY, frames=4, **options)
    method.set_class_names(CLASSES, DESCRIPTIONS)
    return method


def videos(batch: int, seed: int = 0, frames: int = 4) -> torch.Tensor:
    return torch.randn(batch, frames, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------- the block
def official_expand_temporal_view(x_lnd: torch.Tensor, attn: torch.nn.MultiheadAttention, frames: int):
    """Open-VCLIP/FROSTER ``multi_head_attention_forward`` + ``_scaled_dot_product_attention`` (branch
    ``expand_temporal_view``) in their own layout: sequence-first (L, N=b·T, E), heads folded into the batch
    (N·heads, L, E/heads), keys/values rebuilt in an (n_batch, n_segment, heads·E, 3·L) buffer of zeros filled
    with [shift left | shift right | not shift]."""
    tgt_len, bsz, embed_dim = x_lnd.shape
    heads = attn.num_heads
    head_dim = embed_dim // heads
    q, k, v = F.linear(x_lnd, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q = q.contiguous().view(tgt_len, bsz * heads, head_dim).transpose(0, 1)
    k = k.contiguous().view(tgt_len, bsz * heads, head_dim).transpose(0, 1)
    v = v.contiguous().view(tgt_len, bsz * heads, head_dim).transpose(0, 1)
    batch, length, width = q.shape
    q = q / math.sqrt(width)
    n_batch = batch // frames // heads
    k = k.reshape(n_batch, frames, heads, length, width).permute(0, 1, 2, 4, 3).contiguous()
    k = k.view(n_batch, frames, heads * width, length)
    v = v.reshape(n_batch, frames, heads, length, width).permute(0, 1, 2, 4, 3).contiguous()
    v = v.view(n_batch, frames, heads * width, length)
    out_k = torch.zeros(n_batch, frames, heads * width, 3 * length)
    out_k[:, :-1, :, :length] = k[:, 1:]
    out_k[:, 1:, :, length:2 * length] = k[:, :-1]
    out_k[:, :, :, 2 * length:] = k
    out_v = torch.zeros(n_batch, frames, heads * width, 3 * length)
    out_v[:, :-1, :, :length] = v[:, 1:]
    out_v[:, 1:, :, length:2 * length] = v[:, :-1]
    out_v[:, :, :, 2 * length:] = v
    k = out_k.view(n_batch, frames, heads, width, 3 * length).permute(0, 1, 2, 4, 3).contiguous()
    v = out_v.view(n_batch, frames, heads, width, 3 * length).permute(0, 1, 2, 4, 3).contiguous()
    k, v = k.view(batch, 3 * length, width), v.view(batch, 3 * length, width)
    out = torch.bmm(torch.softmax(torch.bmm(q, k.transpose(-2, -1)), dim=-1), v)
    out = out.transpose(0, 1).contiguous().view(tgt_len, bsz, embed_dim)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


def test_neighbour_frame_attention_transcribes_the_official_kernel():
    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(32, 4, batch_first=True)
    x = torch.randn(2 * 3, 5, 32)  # 2 videos × 3 frames, 5 tokens
    ours = neighbour_frame_attention(x, attn, frames=3)
    official = official_expand_temporal_view(x.transpose(0, 1), attn, frames=3).transpose(0, 1)
    assert torch.allclose(ours, official, atol=1e-5)
    # one frame per video: the two neighbours are zero keys that still take part in the softmax
    single = neighbour_frame_attention(x, attn, frames=1)
    plain = attn(x, x, x, need_weights=False)[0]
    assert not torch.allclose(single, plain, atol=1e-4)
    assert torch.allclose(single, official_expand_temporal_view(x.transpose(0, 1), attn, 1).transpose(0, 1), atol=1e-5)


def test_student_blocks_keep_open_clip_names_and_the_teacher_is_frame_wise():
    method = toy()
    names = {n for n, _ in method.named_parameters()}
    assert "clip.visual.transformer.resblocks.0.attn.in_proj_weight" in names
    assert all(isinstance(b, NeighbourFrameBlock) for b in method.clip.visual.transformer.resblocks)
    assert not any(isinstance(b, NeighbourFrameBlock) for b in method.raw_model.visual.transformer.resblocks)
    with torch.no_grad():  # same weights at the start: only the temporal attention differs
        batch = videos(2)
        student = method.clip.encode_image(batch.flatten(0, 1))
        teacher = method.raw_model.encode_image(batch.flatten(0, 1))
        assert not torch.allclose(student, teacher, atol=1e-4)
        frame_wise = toy(temporal="none")
        assert torch.allclose(frame_wise.clip.encode_image(batch.flatten(0, 1)), teacher, atol=1e-5)


# ----------------------------------------------------------------------------------------------- text
def test_templates_and_rephrased_labels():
    assert len(TEMPLATES) == 28 and TEMPLATES[0] == "a photo of {}." and TEMPLATES[-1] == (
        "a demonstration of a person practicing {}.")
    method = toy()
    assert method.text_cfg["templates"][-1] == "{}" and len(method.text_cfg["templates"]) == 29
    label = "jumping jacks: a person is jumping jacks in a video"
    assert method.prompts("a video of a person doing {}.")[0] == f"a video of a person doing jumping jacks. {label}"
    assert method.prompts("{}")[0] == label
    names = toy(text=dict(source="names"))
    assert names.prompts(TEMPLATES[0])[1] == "a photo of waving hands. waving hands"
    pair = method.train_templates()
    assert len(pair) == 2 and pair[0] in TEMPLATES and pair[1] == "{}"
    method.eval()
    with torch.no_grad():
        classifier = method.all_template_features()
    assert classifier.shape[0] == 1 and torch.allclose(classifier.norm(dim=-1), torch.ones(1, 4))


# ----------------------------------------------------------------------------------------------- training
def test_trainable_set_and_optimizer_groups():
    method = toy()
    for name, parameter in method.named_parameters():
        assert parameter.requires_grad == (not name.startswith("raw_model.")), name
    assert method.clip.token_embedding.weight.requires_grad and method.clip.logit_scale.requires_grad
    groups = method.param_groups(1e-5, 0.01)
    decayed, plain = groups
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert any(p is method.clip.logit_scale for p in decayed["params"])  # 0-D: decayed, as ZERO_WD_1D_PARAM
    assert any(p is method.clip.visual.class_embedding for p in plain["params"])
    assert sum(p.numel() for g in groups for p in g["params"]) == method.parameter_counts()["trainable_params"]
    assert all(g[AVERAGE_KEY] for g in groups)
    off = toy(distillation=False)
    assert not hasattr(off, "raw_model") and "loss_distill_video" not in off.loss(videos(2), torch.tensor([0, 1]))


def test_loss_is_cross_entropy_of_frame_averaged_logits_plus_residual_distillation():
    method = toy().train()
    batch, labels = videos(3), torch.tensor([0, 1, 3])
    random.seed(5)
    losses = method.loss(batch, labels)
    random.seed(5)
    pair = method.train_templates()
    with torch.no_grad():
        frames = F.normalize(method.clip.encode_image(batch.flatten(0, 1)), dim=-1).view(3, 4, -1)
        text = method.classifier(pair)
        logits = (method.clip.logit_scale.exp() * frames @ text.t()).mean(dim=1)
        teacher_frames = F.normalize(method.raw_model.encode_image(batch.flatten(0, 1)), dim=-1)
        teacher_text = method.classifier(pair, method.raw_model.encode_text)
        v = frames.flatten(0, 1) + 0.1 * method.projector_v(frames.flatten(0, 1))
        t = text + 0.1 * method.projector_t(text)
    assert losses["loss_cls"].item() == pytest.approx(F.cross_entropy(logits, labels).item(), abs=1e-5)
    expected_video = 2.0 * (1 - F.cosine_similarity(v, teacher_frames, dim=-1).mean())
    expected_text = 2.0 * (1 - F.cosine_similarity(t, teacher_text, dim=-1).mean())
    assert losses["loss_distill_video"].item() == pytest.approx(expected_video.item(), abs=1e-5)
    assert losses["loss_distill_text"].item() == pytest.approx(expected_text.item(), abs=1e-5)
    assert torch.allclose(method.projector_v[2].weight, torch.zeros_like(method.projector_v[2].weight))


def test_teacher_does_not_move_student_and_projectors_do():
    method = toy(weight_average=dict(enabled=False)).train()
    before = {name: p.detach().clone() for name, p in method.named_parameters()}
    optimizer = torch.optim.AdamW(method.param_groups(1e-3, 0.01))
    for step in range(2):  # the zero-initialised second projector layer moves first; the first one then
        optimizer.zero_grad()
        losses = method.loss(videos(4, seed=step), torch.tensor([0, 1, 2, 3]))
        sum(losses.values()).backward()
        assert all(p.grad is None for n, p in method.named_parameters() if n.startswith("raw_model."))
        optimizer.step()
    for name, parameter in method.named_parameters():
        moved = not torch.equal(parameter.detach(), before[name])
        assert moved == (not name.startswith("raw_model.")), name
    assert not method.raw_model.training


def test_loss_decreases_on_a_fixed_batch():
    method = toy(weight_average=dict(enabled=False)).train()
    optimizer = torch.optim.AdamW(method.param_groups(1e-4, 0.01))
    batch, labels = videos(4, seed=2), torch.tensor([0, 1, 2, 3])
    history = []
    for step in range(6):
        random.seed(0)  # the same template pair every step
        optimizer.zero_grad()
        loss = sum(method.loss(batch, labels).values())
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < history[0]


def test_weight_average_over_epoch_ends_is_loaded_after_the_last_step():
    """weight_average_tool.py: the average of the end-of-epoch weights of epochs start..last is what is tested."""
    method = toy().train()
    optimizer = torch.optim.SGD(method.param_groups(0.1, 0.0), lr=0.1)
    hub = MessageHub.get_instance("froster-average-test")
    hub.update_info("max_epochs", 3)
    hub.update_info("max_iters", 6)  # 2 iterations per epoch
    snapshots = []
    for step in range(6):
        hub.update_info("iter", step)
        optimizer.zero_grad()
        sum(method.loss(videos(2, seed=step), torch.tensor([0, 1])).values()).backward()
        if step < 5:
            optimizer.step()
            if step in (3,):  # end of epoch 2 (epoch 1 is before start_epoch = 2)
                snapshots.append(method.clip.visual.proj.detach().clone())
        else:
            final = None
            for group in optimizer.param_groups:  # the last step, done by hand to see the pre-average weights
                for p in group["params"]:
                    if p.grad is not None:
                        p.data.add_(p.grad, alpha=-0.1)
            final = method.clip.visual.proj.detach().clone()
            from methods.froster import _after_optimizer_step

            _after_optimizer_step(optimizer, (), {})
    assert method.averaged_epochs == [2, 3]
    assert torch.allclose(method.clip.visual.proj, (snapshots[0] + final) / 2, atol=1e-6)
    teacher_before = toy().raw_model.visual.proj
    assert torch.equal(method.raw_model.visual.proj, teacher_before)  # the teacher is never averaged


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
    losses = method(**data, mode="loss")
    assert set(losses) == {"loss_cls", "loss_distill_video", "loss_distill_text"}
    sum(losses.values()).backward()
    method.eval()
    with torch.no_grad():
        assert method(data["inputs"], mode="tensor").shape == (3, len(CLASSES))
        predicted = method(**data, mode="predict")
    assert all(s.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5) for s in predicted)


# ----------------------------------------------------------------------------------------------- counts
def analytic_visual_macs(width: int, layers: int, patch: int, size: int, embed: int, frames: int,
                         neighbour_keys: int) -> int:
    """MACs of the visual tower for ``frames`` frames with ``neighbour_keys``× keys in attention, + the logits."""
    tokens = (size // patch) ** 2 + 1
    per_layer = tokens * width * 3 * width + tokens * width * width + 2 * tokens * width * 4 * width
    per_layer += 2 * tokens * (neighbour_keys * tokens) * width  # q·kᵀ and weights·v
    per_frame = (tokens - 1) * width * 3 * patch * patch + layers * per_layer + width * embed
    return frames * per_frame + frames * embed  # + the (frames × embed) @ (embed × 1 class) logits


@pytest.fixture(scope="module")
def b16_profile():
    return profile_method("froster", backbone="ViT-B-16", pretrained="none", frames=8)


def test_vit_b16_parameters_and_gmacs(b16_profile):
    clip_total = 149_620_737  # open_clip ViT-B-16 (tests/test_profile.py)
    projectors = 2 * 2 * 512 * 512
    assert b16_profile["trainable_params"] == clip_total + projectors == 150_669_313
    assert b16_profile["total_params"] == 2 * clip_total + projectors == 300_290_050
    expected = analytic_visual_macs(768, 12, 16, 224, 512, 8, neighbour_keys=3) / 1e9
    assert b16_profile["gmacs_per_view"] == pytest.approx(expected, abs=1e-3)
    assert b16_profile["gmacs_per_view"] == pytest.approx(151.95, abs=0.01)
    frame_wise = analytic_visual_macs(768, 12, 16, 224, 512, 8, neighbour_keys=1) / 1e9
    assert frame_wise == pytest.approx(140.5, abs=0.1)  # the plain CLIP reference of harness/models/profile.py
    assert b16_profile["text_gmacs"] == pytest.approx(2.98, abs=0.01)
