"""EZ-CLIP (methods/ezclip.py) against methods.md §1.1: trainable-parameter counts, the motion loss, the temporal
prompts, zero-initialised adapters, freezing, training and the three mmengine modes.

Full-size ViT-B-16 / ViT-L-14 builds use random weights (pretrained none); everything else runs on the embedded
``toy-vit`` architecture with random weights (nothing is downloaded or pretrained).
"""
from __future__ import annotations

import math

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.runner.checkpoint import load_state_dict as mmengine_load_state_dict

from harness.errors import HarnessError
from methods.clip import FrozenCLIP
from methods.ezclip import EZCLIP, Adapter, DropPath, motion_loss

TOY = dict(name="toy-vit", pretrained="none")


def _toy_width() -> int:
    import json

    from harness.models.toyclip import CONFIG_PATH

    return json.loads(CONFIG_PATH.read_text())["vision_cfg"]["width"]


WIDTH = _toy_width()  # the toy config may change; the tests follow it
CLASSES = ["jumping jacks", "waving hands", "sliding left", "spinning"]
DESCRIPTIONS = {name: f"a person is {name} in front of the camera" for name in CLASSES}


def trainable_by_part(method) -> dict:
    parts = dict(prompts=0, visual_adapters=0, text_adapters=0, other=0)
    for name, parameter in method.named_parameters():
        if not parameter.requires_grad:
            continue
        if "prompt" in name:
            parts["prompts"] += parameter.numel()
        elif "Adapter" in name:
            parts["visual_adapters" if ".visual." in name else "text_adapters"] += parameter.numel()
        else:
            parts["other"] += parameter.numel()
    return parts


def toy(frames: int = 4, **options) -> EZCLIP:
    torch.manual_seed(0)
    method = EZCLIP(backbone=TOY, frames=frames, **options)
    method.set_class_names(CLASSES, DESCRIPTIONS)
    return method


def videos(batch: int, frames: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def b16():
    return EZCLIP(backbone=dict(name="ViT-B-16", pretrained="none"), frames=8)


# ----------------------------------------------------------------------------------------- parameter counts
def test_vit_b16_trainable_parameters_match_the_paper(b16):
    assert b16.parameter_counts()["trainable_params"] == 5_204_736
    assert trainable_by_part(b16) == dict(prompts=73_728, visual_adapters=3_550_464, text_adapters=1_580_544, other=0)
    assert not b16.clip.logit_scale.requires_grad


def test_vit_b16_sixteen_frames_trainable_parameters():
    method = EZCLIP(backbone=dict(name="ViT-B-16", pretrained="none"), frames=16)
    assert method.parameter_counts()["trainable_params"] == 5_278_464


def test_vit_l14_trainable_parameters():
    method = EZCLIP(backbone=dict(name="ViT-L-14", pretrained="none"), frames=8)
    assert method.parameter_counts()["trainable_params"] == 16_360_704
    assert trainable_by_part(method) == dict(prompts=24 * 8 * 1024, visual_adapters=24 * 525_568,
                                             text_adapters=12 * 295_872, other=0)


def test_ablation_switches_change_the_trainable_set():
    assert trainable_by_part(toy(prompts=False))["prompts"] == 0
    parts = trainable_by_part(toy(adapters=False))
    assert parts["visual_adapters"] == parts["text_adapters"] == 0 and parts["prompts"] == 4 * 4 * WIDTH
    assert toy(prompts=False, adapters=False).parameter_counts()["trainable_params"] == 0


def test_clip_parameter_names_are_kept(b16):
    names = {name for name, _ in b16.named_parameters()}
    assert "clip.visual.transformer.resblocks.0.attn.in_proj_weight" in names
    assert "clip.transformer.resblocks.11.mlp.c_fc.weight" in names
    assert "clip.visual.transformer.T_prompt_embeddings" in names
    assert "clip.visual.transformer.resblocks.3.Adapter.D_fc2.bias" in names


# ----------------------------------------------------------------------------------------- motion loss
def test_motion_loss_hand_computed():
    # e over T = 3 frames, B = D = 1: [0, 1, 3]. Edge-replicated neighbours: previous [0, 0, 1], next [1, 3, 3];
    # |next - previous| / 2 = [0.5, 1.5, 1.0] → C = 1; unbiased variance of [0, 1, 3] = 7/3 → L = 1 / (1 + 7/3 + 1).
    e = torch.tensor([0.0, 1.0, 3.0]).view(1, 3, 1)
    assert motion_loss(e).item() == pytest.approx(3 / 13, abs=1e-7)
    # Two videos, two channels: C = mean of the central differences, V = mean over (B, D) of the variances.
    e = torch.tensor([[[0.0, 2.0], [1.0, 2.0], [3.0, 2.0]],
                      [[1.0, 0.0], [1.0, 4.0], [1.0, 8.0]]])
    central = (0.5 + 1.5 + 1.0 + 0 + 0 + 0 + 0 + 0 + 0 + 2.0 + 4.0 + 2.0) / 12
    variance = (7 / 3 + 0 + 0 + 16) / 4
    assert motion_loss(e).item() == pytest.approx(1 / (central + variance + 1), abs=1e-7)


def test_motion_loss_equals_the_official_formula():
    x = torch.randn(3, 8, 16, generator=torch.Generator().manual_seed(1))
    shifted_left = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    shifted_right = torch.cat([x[:, 1:], x[:, -1:]], dim=1)
    c = torch.mean(torch.mean(torch.mean(torch.abs(shifted_right - shifted_left) / 2.0, 1), 1))
    v = torch.mean(torch.mean(torch.var(x, dim=1, keepdim=False), 1))
    assert torch.allclose(motion_loss(x), 1 / (c + v + 1))


# ----------------------------------------------------------------------------------------- temporal prompts
def test_temporal_prompt_shape_and_init(b16):
    prompts = b16.clip.visual.transformer.T_prompt_embeddings
    assert tuple(prompts.shape) == (12, 8, 768)
    bound = math.sqrt(6 / (3 * 16 * 16 + 768))
    assert bound == pytest.approx(0.0625)
    assert prompts.abs().max().item() <= bound and prompts.abs().max().item() > 0.9 * bound


def test_one_temporal_token_per_frame_and_layer():
    method = toy(frames=4).eval()
    layers = len(method.clip.visual.transformer.resblocks)
    seen = []
    hooks = [block.attn.register_forward_hook(lambda module, args, out, i=i: seen.append((i, tuple(args[0].shape))))
             for i, block in enumerate(method.clip.visual.transformer.resblocks)]
    with torch.no_grad():
        method.video_embeddings(videos(2, 4))
    for hook in hooks:
        hook.remove()
    tokens = (32 // 8) ** 2 + 1
    # per layer: the temporal attention over the 4 frames of each of the 2 videos, then the spatial attention of
    # the 8 frames over their 17 tokens + 1 temporal token
    expected = [item for i in range(layers) for item in ((i, (2, 4, WIDTH)), (i, (8, tokens + 1, WIDTH)))]
    assert seen == expected


def test_changing_one_prompt_entry_changes_the_video():
    method = toy(frames=4).eval()
    prompts = method.clip.visual.transformer.T_prompt_embeddings
    clip_videos = videos(1, 4)
    with torch.no_grad():
        before = method.encode_frames(clip_videos)
        prompts[2, 1, 0] += 1.0  # one entry: adding the same amount to a whole prompt vector is cancelled by ln_1
        after = method.encode_frames(clip_videos)
    # frame 1's prompt enters the temporal attention of layer 2, which every frame of the video attends to
    assert not torch.allclose(before, after)
    with torch.no_grad():
        prompts[2, 1, 0] -= 1.0
        assert torch.allclose(method.encode_frames(clip_videos), before, atol=1e-6)


def official_block_forward(block, x_lnd: torch.Tensor, prompt: torch.Tensor, frames: int) -> torch.Tensor:
    """``ResidualAttentionBlock.forward`` of Shahzadnit/EZ-CLIP clip/model.py (image branch, eval mode), written
    with its sequence-first (L, B·T, D) layout and reshapes; ``attention`` runs the batch-first MHA on (N, L, D)."""
    def attention(t):  # t: (L, N, D)
        t = t.transpose(0, 1)
        return block.attn(t, t, t, need_weights=False)[0].transpose(0, 1)

    l, bt, d = x_lnd.size()
    b = bt // frames
    x = x_lnd.view(l, b, frames, d)
    t_prompt = prompt.view(1, frames, d).expand(x.shape[1], -1, -1) + torch.mean(x, 0)
    t_prompt = t_prompt.view(b, frames, 1, d).permute(1, 2, 0, 3).reshape(frames, b, d)
    t_prompt = attention(block.ln_1(t_prompt))
    t_prompt = t_prompt.view(frames, 1, b, d).permute(1, 2, 0, 3)
    x = torch.cat([x, t_prompt], dim=0).view(l + 1, -1, d)
    x = x + attention(block.ln_1(x))
    x = x[:l, :, :]
    x = block.Adapter(x)
    return x + block.mlp(block.ln_2(x))


def test_block_matches_the_official_sequence_first_forward():
    method = toy(frames=4).eval()
    block = method.clip.visual.transformer.resblocks[1]
    with torch.no_grad():
        for parameter in block.Adapter.parameters():  # non-trivial adapter
            parameter.normal_(0, 0.05)
        x = torch.randn(2 * 4, 17, WIDTH)
        prompt = torch.randn(4, WIDTH) * 0.1
        ours = block(x, prompt=prompt)
        official = official_block_forward(block, x.transpose(0, 1), prompt, frames=4).transpose(0, 1)
    assert torch.allclose(ours, official, atol=1e-5)


def test_prompts_bake_in_the_frame_count():
    eight = toy(frames=8)
    four = toy(frames=4)
    with pytest.raises(HarnessError, match=r"8 frames.*frames=4.*model.frames=8"):
        four.load_state_dict(eight.state_dict())
    with pytest.raises(HarnessError, match="bakes the frame count"):
        mmengine_load_state_dict(four, eight.state_dict(), strict=False)  # mmengine would only warn on a mismatch
    with pytest.raises(HarnessError, match="built for 4 frames"):
        four.video_embeddings(videos(1, 8))
    four.load_state_dict(toy(frames=4).state_dict())  # same T loads


def test_temporal_embedding_is_the_official_frozen_zero_parameter():
    """``visual.temporal_embedding`` (1, T, width): in every official checkpoint, zero at init and frozen by
    train.py, so it changes nothing; when non-zero it is added to every token of frame t (official placement:
    after the positional embedding, before ln_pre)."""
    assert not toy(frames=4).clip.visual.temporal_embedding.requires_grad
    method = toy(frames=4, prompts=False).eval()  # without the temporal prompts frames do not interact
    embedding = method.clip.visual.temporal_embedding
    assert tuple(embedding.shape) == (1, 4, WIDTH) and not embedding.requires_grad and not embedding.any()
    clip_videos = videos(2, 4, seed=5)
    with torch.no_grad():
        before = method.encode_frames(clip_videos)
        embedding[0, 2].fill_(0.5)
        after = method.encode_frames(clip_videos)
    assert torch.equal(before[:, [0, 1, 3]], after[:, [0, 1, 3]])  # only frame 2 moved
    assert not torch.allclose(before[:, 2], after[:, 2])


# ----------------------------------------------------------------------------------------- adapters
def test_zero_initialised_adapter_is_identity():
    adapter = Adapter(32)
    x = torch.randn(2, 5, 32)
    assert torch.equal(adapter(x), x)
    assert adapter.D_fc1.out_features == 8


def test_adapters_at_init_without_prompts_equal_frozen_clip():
    torch.manual_seed(0)
    frozen = FrozenCLIP(backbone=TOY, frames=4).eval()
    method = EZCLIP(backbone=TOY, frames=4, prompts=False).eval()
    result = method.clip.load_state_dict(frozen.clip.state_dict(), strict=False)  # CLIP names map one to one
    # EZ-CLIP's own parameters: the adapters and the (zero) temporal embedding of the official VisualTransformer
    assert not result.unexpected_keys
    assert all("Adapter" in key or key == "visual.temporal_embedding" for key in result.missing_keys)
    clip_videos = videos(2, 4, seed=3)
    tokens = frozen.tokenize(["a person waving"])
    with torch.no_grad():
        assert torch.allclose(method.video_embeddings(clip_videos), frozen.video_embeddings(clip_videos), atol=1e-5)
        assert torch.allclose(method.encode_text(tokens), frozen.encode_text(tokens), atol=1e-5)


def test_drop_path_modes():
    x = torch.ones(6, 50, 4)
    token = DropPath(0.5, "token").train()(x)
    assert torch.equal(token[0], token[5])  # one draw per token position, shared by the batch
    sample = DropPath(0.5, "sample").train()(x)
    assert all(len(row.unique()) == 1 for row in sample)  # one draw per sample
    assert torch.equal(DropPath(0.5).eval()(x), x)
    with pytest.raises(HarnessError):
        DropPath(0.1, "layer")


def test_official_dropouts_are_wired():
    method = toy(drop_path=0.1)
    visual = method.clip.visual.transformer.resblocks
    assert visual[0].drop_path.probability == 0.0 and visual[-1].drop_path.probability == pytest.approx(0.1)
    assert visual[-1].attn.dropout == pytest.approx(0.1)
    assert method.clip.transformer.resblocks[-1].drop_path.probability == pytest.approx(0.1)
    assert method.clip.visual.transformer.prompt_dropout.p == pytest.approx(0.1)
    assert toy(attention_dropout=False).clip.visual.transformer.resblocks[-1].attn.dropout == 0.0


# ----------------------------------------------------------------------------------------- training
def test_frozen_parameters_get_no_gradient_and_do_not_move():
    method = toy().train()
    before = {name: p.detach().clone() for name, p in method.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.2)
    labels = torch.tensor([0, 1, 1, 2])
    for step in range(2):
        optimizer.zero_grad()
        losses = method.loss(videos(4, 4, seed=step), labels)
        sum(losses.values()).backward()
        for name, parameter in method.named_parameters():
            if not parameter.requires_grad:
                assert parameter.grad is None, name
        optimizer.step()
    for name, parameter in method.named_parameters():
        moved = not torch.equal(parameter.detach(), before[name])
        assert moved == parameter.requires_grad, name


def test_loss_decreases_on_a_fixed_batch():
    method = toy(drop_path=0.0, prompt_dropout=0.0).train()
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    batch, labels = videos(4, 4, seed=5), torch.tensor([0, 1, 2, 3])
    history = []
    for _ in range(8):
        optimizer.zero_grad()
        losses = method.loss(batch, labels)
        assert set(losses) == {"loss_contrastive", "loss_motion"}
        total = sum(losses.values())
        assert torch.isfinite(total)
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert history[-1] < history[0]


def test_loss_without_motion_term_and_random_templates():
    method = toy(motion_loss=False, text=dict(source="names", templates=["a video of {}", "{}"],
                                              train_template="random"))
    losses = method.loss(videos(2, 4), torch.tensor([0, 0]))
    assert set(losses) == {"loss_contrastive"} and torch.isfinite(losses["loss_contrastive"])


def test_descriptions_are_the_default_text():
    method = EZCLIP(backbone=TOY, frames=4)
    with pytest.raises(ValueError, match="descriptions"):
        method.set_class_names(CLASSES)
    method.set_class_names(CLASSES, DESCRIPTIONS)
    assert method.prompts(method.text_cfg["templates"][0])[0] == DESCRIPTIONS[CLASSES[0]]


# ----------------------------------------------------------------------------------------- mmengine modes
def test_forward_in_the_three_mmengine_modes():
    method = toy(frames=4)
    frames = torch.randint(0, 256, (3, 2 * 4, 3, 32, 32), dtype=torch.uint8)  # 2 views × 4 frames per video
    samples = []
    for label in (0, 2, 3):
        sample = ActionDataSample()
        sample.set_gt_label(label)
        samples.append(sample)
    data = method.data_preprocessor(dict(inputs=list(frames), data_samples=samples), training=True)
    assert data["inputs"].shape == (3, 2, 4, 3, 32, 32)
    method.train()
    losses = method(**data, mode="loss")
    assert all(torch.isfinite(value) for value in losses.values())
    method.eval()
    with torch.no_grad():
        logits = method(data["inputs"], mode="tensor")
        assert logits.shape == (3, len(CLASSES)) and torch.isfinite(logits).all()
        predicted = method(**data, mode="predict")
    for sample in predicted:
        assert sample.pred_score.shape == (len(CLASSES),)
        assert sample.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5)
