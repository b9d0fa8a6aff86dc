"""X-CLIP (methods/xclip.py) against methods.md §1.2 / §2.2 and microsoft/VideoX X-CLIP: parameter counts at
ViT-B/16, α init, the cross-frame communication blocks, frozen cached text, video-conditioned scores, the loss
(label smoothing, Mixup/CutMix), learning-rate / weight-decay groups, training, and the three mmengine modes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample

from harness.errors import HarnessError
from harness.method import NORMALISATION
from methods.xclip import XCLIP, CrossFrameAttentionBlock, mixup_cutmix

TOY = dict(name="toy-vit", pretrained="none")
FRAMES = 4
CLASSES = ["jumping jacks", "waving hands", "sliding left", "spinning"]


def toy(**options) -> XCLIP:
    torch.manual_seed(0)
    options.setdefault("mixup", dict(enabled=False))
    method = XCLIP(backbone=TOY, frames=FRAMES, **options)
    method.set_class_names(CLASSES)
    return method


def videos(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, FRAMES, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vit_b16():
    return XCLIP(backbone=dict(name="ViT-B-16", pretrained="none"), frames=8)


def _count(method, predicate) -> int:
    return sum(p.numel() for name, p in method.named_parameters() if predicate(name))


# ----------------------------------------------------------------------------- full size
def test_vit_b16_trainable_parameters(vit_b16):
    counts = vit_b16.parameter_counts()
    assert counts["trainable_params"] == pytest.approx(131.5e6, rel=0.01)
    # methods.md §1.2 analytic: CCT messages 35.45M, MIT 3.16M, VSP 6.30M, patch LN + proj 0.39M, visual 86.19M
    assert _count(vit_b16, lambda n: "message_" in n) == 12 * (768 * 768 + 768 + 2 * 768 + 4 * 768 * 768 + 4 * 768)
    assert _count(vit_b16, lambda n: n.startswith("mit.")) == 3_156_480
    assert _count(vit_b16, lambda n: n.startswith("prompts_generator.")) == 6_303_232
    assert _count(vit_b16, lambda n: n.startswith("prompts_visual_")) == 768 * 512 + 2 * 768
    assert _count(vit_b16, lambda n: n.startswith("clip.visual.") and "message_" not in n) == 86_192_640
    trainable = {n for n, p in vit_b16.named_parameters() if p.requires_grad}
    assert not any(n.startswith("clip.") and not n.startswith("clip.visual.") for n in trainable)
    assert not vit_b16.clip.logit_scale.requires_grad                     # frozen (MODEL.FIX_TEXT)
    assert all(isinstance(b, CrossFrameAttentionBlock) for b in vit_b16.clip.visual.transformer.resblocks)
    block = vit_b16.clip.visual.transformer.resblocks[0]
    assert block.message_attn.num_heads == 12 and vit_b16.mit.resblocks[0].attn.num_heads == 8
    assert vit_b16.prompts_generator.decoder[0].cross_attn.heads == 8 and len(vit_b16.prompts_generator.decoder) == 2
    assert len(vit_b16.mit.resblocks) == 1 and vit_b16.mit.positional_embedding.shape == (1, 8, 512)


def test_vit_b16_alpha_and_param_groups(vit_b16):
    assert torch.equal(vit_b16.prompts_generator.alpha.detach(), torch.full((512,), 0.1))
    groups = {g["name"]: g for g in vit_b16.param_groups(8e-6, 0.001)}
    assert set(groups) == {"clip", "clip_no_decay", "message", "message_no_decay", "mit", "mit_no_decay",
                           "prompts", "prompts_no_decay"}
    for name, group in groups.items():
        assert group["lr"] == pytest.approx(8e-6 if name.startswith("clip") else 8e-5)
        assert group["weight_decay"] == (0.0 if name.endswith("no_decay") else 0.001)
    ids = [id(p) for g in groups.values() for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in vit_b16.parameters() if p.requires_grad)
    by_id = {id(p): name for name, p in vit_b16.named_parameters()}
    no_decay = {by_id[id(p)] for g in groups.values() if g["weight_decay"] == 0 for p in g["params"]}
    assert {"clip.visual.positional_embedding", "mit.positional_embedding", "clip.visual.class_embedding",
            "prompts_generator.alpha", "clip.visual.transformer.resblocks.0.message_fc.bias"} <= no_decay
    assert "clip.visual.proj" not in no_decay and "prompts_visual_proj" not in no_decay
    assert all(p.ndim <= 1 or by_id[id(p)].endswith(".bias") or "positional_embedding" in by_id[id(p)]
               for g in groups.values() if g["weight_decay"] == 0 for p in g["params"])
    message = {by_id[id(p)] for p in groups["message"]["params"] + groups["message_no_decay"]["params"]}
    assert all("message_" in n for n in message) and len(message) == 12 * 8   # fc, ln, attn (w + b each)


# ----------------------------------------------------------------------------- structure
def test_clip_parameter_names_are_kept_and_alpha_starts_at_0_1():
    method = toy()
    names = {n for n, _ in method.named_parameters()}
    prefix = "clip.visual.transformer.resblocks"
    assert {f"{prefix}.0.attn.in_proj_weight", f"{prefix}.0.mlp.c_fc.weight", f"{prefix}.3.message_fc.weight",
            f"{prefix}.3.message_ln.weight", f"{prefix}.3.message_attn.in_proj_weight"} <= names
    dim = method.clip.visual.output_dim
    assert torch.equal(method.prompts_generator.alpha.detach(), torch.full((dim,), 0.1))
    assert toy(prompt_alpha=0.5).prompts_generator.alpha.detach().eq(0.5).all()
    assert method.default_normalization == "imagenet"
    mean = method.data_preprocessor.mean.flatten() / 255
    assert torch.allclose(mean, torch.tensor(NORMALISATION["imagenet"][0]))
    assert method.prompts(method.text_cfg["templates"][0]) == CLASSES                # template "{}"


def test_frames_communicate_only_within_their_video():
    method = toy().eval()
    batch = videos(2)
    changed = batch.clone()
    changed[0, 0] += 1.0                                                 # perturb frame 0 of video 0 only
    visual = method.clip.visual
    with torch.no_grad():
        outputs = [visual.transformer(visual._embeds(b.flatten(0, 1)))[:, 0].view(2, FRAMES, -1)
                   for b in (batch, changed)]
    difference = (outputs[0] - outputs[1]).abs().amax(-1)
    assert (difference[0, 1:] > 1e-4).all()                              # other frames of video 0 see it
    assert (difference[1] < 1e-6).all()                                  # video 1 does not
    video, context = method.encode_video(batch)
    dim, patches = method.clip.visual.output_dim, (32 // method.clip.visual.patch_size[0]) ** 2
    assert video.shape == (2, dim) and context.shape == (2, patches, dim)


def _seq_first(attention: torch.nn.MultiheadAttention) -> torch.nn.MultiheadAttention:
    clone = torch.nn.MultiheadAttention(attention.embed_dim, attention.num_heads)   # sequence first, as CLIP
    clone.load_state_dict(attention.state_dict())
    return clone


def test_block_matches_a_transcription_of_the_official_forward():
    """``cct.py: CrossFramelAttentionBlock.forward`` transcribed line by line (sequence-first layout)."""
    method = toy().eval()
    block = method.clip.visual.transformer.resblocks[1]
    attn, message_attn = _seq_first(block.attn), _seq_first(block.message_attn)
    x = torch.randn(2 * FRAMES, 17, block.attn.embed_dim)                # (B·T, L, width), batch first
    with torch.no_grad():
        ours = block(x)
        y = x.transpose(0, 1)                                            # official: (l, bt, d)
        l, bt, d = y.size()
        b = bt // FRAMES
        y = y.view(l, b, FRAMES, d)
        msg_token = block.message_fc(y[0, :, :, :])
        msg_token = msg_token.view(b, FRAMES, 1, d)
        msg_token = msg_token.permute(1, 2, 0, 3).view(FRAMES, b, d)
        normed = block.message_ln(msg_token)
        msg_token = msg_token + message_attn(normed, normed, normed, need_weights=False)[0]
        msg_token = msg_token.view(FRAMES, 1, b, d).permute(1, 2, 0, 3)
        y = torch.cat([y, msg_token], dim=0)
        y = y.view(l + 1, -1, d)
        h = block.ln_1(y)
        y = y + attn(h, h, h, need_weights=False)[0]
        y = y[:l, :, :]
        y = y + block.mlp(block.ln_2(y))
    assert torch.allclose(ours, y.transpose(0, 1), atol=1e-5)


def test_text_tower_is_frozen_and_cached_per_class_set(monkeypatch):
    method = toy().train()
    calls = []
    original = method.encode_text

    def counting(tokens):
        calls.append(tokens.shape[0])
        return original(tokens)

    monkeypatch.setattr(method, "encode_text", counting)
    labels = torch.tensor([0, 1, 2, 3])
    for _ in range(2):
        method.loss(videos(4), labels)["loss_cls"].backward()
    assert calls == [4]                                                   # cached in training too
    assert method._text_cache.requires_grad is False
    method.set_class_names(CLASSES[:3])
    with torch.no_grad():
        assert method.logits(videos(2)).shape == (2, 3)
    assert calls == [4, 3]                                                # recomputed for the new class set


def test_scores_are_video_conditioned():
    method = toy().eval()
    with torch.no_grad():
        method.prompts_generator.alpha.fill_(1.0)
        video, context = method.encode_video(videos(2))
        text = method.raw_text_features()[0]
        expanded = text.unsqueeze(0).expand(2, -1, -1)
        prompted = expanded + method.prompts_generator(expanded, context)
        assert not torch.allclose(prompted[0], prompted[1])              # a different text set per video
        expected = method.logit_scale() * torch.einsum("bd,bkd->bk", F.normalize(video, dim=-1),
                                                       F.normalize(prompted, dim=-1))
        assert torch.allclose(method.logits(videos(2)), expected, atol=1e-4)
        scores = method.class_scores(videos(2))
        assert torch.allclose(scores, F.softmax(expected, dim=-1), atol=1e-5)


# ----------------------------------------------------------------------------- loss
def test_loss_without_mixup_is_label_smoothed_cross_entropy():
    method = toy().eval()
    batch, labels = videos(3), torch.tensor([0, 1, 3])
    with torch.no_grad():
        expected = F.cross_entropy(method.logits(batch), labels, label_smoothing=0.1)
        assert method.loss(batch, labels)["loss_cls"].item() == pytest.approx(expected.item(), abs=1e-5)


def test_mixup_and_cutmix_targets():
    batch, labels = videos(6), torch.arange(6) % 4
    torch.manual_seed(0)
    for switch in (0.0, 1.0):                                            # always Mixup, always CutMix
        mixed, soft = mixup_cutmix(batch, labels, 4, 0.1, 0.8, 1.0, switch)
        assert mixed.shape == batch.shape and torch.allclose(soft.sum(1), torch.ones(6))
        assert soft.min().item() >= 0.1 / 4 - 1e-6
    assert torch.equal(batch, videos(6))                                 # the input is not modified in place
    method = toy(mixup=dict(enabled=True)).train()
    loss = method.loss(batch, labels)["loss_cls"]
    assert torch.isfinite(loss)
    assert toy(mixup=None).mixup["mixup_alpha"] == 0.8                   # the official default is on
    with pytest.raises(HarnessError, match="mixup"):
        toy(mixup=dict(alpha=0.2))


# ----------------------------------------------------------------------------- training
def test_frozen_parameters_stay_and_trainable_ones_move():
    method = toy().train()
    before = {name: p.detach().clone() for name, p in method.named_parameters()}
    optimizer = torch.optim.AdamW(method.param_groups(1e-4, 0.001), betas=(0.9, 0.98), eps=1e-8)
    batch, labels = videos(4, seed=2), torch.tensor([0, 1, 2, 3])
    history = []
    for step in range(4):
        optimizer.zero_grad()
        loss = method.loss(batch, labels)["loss_cls"]
        assert torch.isfinite(loss)
        loss.backward()
        if step == 0:
            assert all(p.grad is None for p in method.parameters() if not p.requires_grad)
            assert all(p.grad is not None for p in method.parameters() if p.requires_grad)
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < history[0]
    for name, parameter in method.named_parameters():
        moved = not torch.equal(parameter.detach(), before[name])
        assert moved == parameter.requires_grad, name


def test_forward_in_the_three_mmengine_modes():
    method = toy(mixup=dict(enabled=True))
    frames = torch.randint(0, 256, (3, 2 * FRAMES, 3, 32, 32), dtype=torch.uint8)   # 2 views per video
    samples = []
    for label in (0, 1, 3):
        sample = ActionDataSample()
        sample.set_gt_label(label)
        samples.append(sample)
    data = method.data_preprocessor(dict(inputs=list(frames), data_samples=samples), training=True)
    method.train()
    losses = method(**data, mode="loss")                                 # with Mixup / CutMix
    assert set(losses) == {"loss_cls"} and torch.isfinite(losses["loss_cls"])
    losses["loss_cls"].backward()
    method.eval()
    with torch.no_grad():
        assert method(data["inputs"], mode="tensor").shape == (3, len(CLASSES))
        predicted = method(**data, mode="predict")
    assert all(s.pred_score.shape == (len(CLASSES),) for s in predicted)
    assert all(s.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5) for s in predicted)
    with pytest.raises(HarnessError, match="frames"):
        method.logits(torch.randn(1, FRAMES + 1, 3, 32, 32))
