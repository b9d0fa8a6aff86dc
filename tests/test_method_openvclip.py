"""Open-VCLIP (methods/openvclip.py) against the official code (wengzejia1/Open-VCLIP): the neighbour-frame attention
transcribed from ``functional.py``'s ``expand_temporal_view`` branch, the trainable set, the interpolated-weight
gradient of ``train_net.py``, SWA, the eval-mode weight interpolation of ``test_net.py``, parameters and GMACs."""
from __future__ import annotations

import copy
import math
import random

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample
from mmengine.logging import MessageHub

from harness.errors import HarnessError
from harness.models.profile import profile_method
from methods.openvclip import TEMPLATES, NeighbourFrameBlock, OpenVCLIP, neighbour_attention_extra_macs

TOY = dict(name="toy-vit", pretrained="none")
CLASSES = ["jumping jacks", "waving hands", "sliding left", "spinning"]


def toy(**options) -> OpenVCLIP:
    torch.manual_seed(0)
    method = OpenVCLIP(backbone=TOY, frames=4, **options)
    method.set_class_names(CLASSES)
    return method


def videos(batch: int, seed: int = 0, frames: int = 4) -> torch.Tensor:
    return torch.randn(batch, frames, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def sgd_step(method, batch, labels, lr=1e-2):
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=lr)
    optimizer.zero_grad()
    sum(method.loss(batch, labels).values()).backward()
    optimizer.step()


# ----------------------------------------------------------------------------------------------- ViT-B/16
@pytest.fixture(scope="module")
def b16():
    return OpenVCLIP(backbone=dict(name="ViT-B-16", pretrained="none"), frames=8)


def test_vit_b16_parameters_and_gmacs_against_the_analytic_count(b16):
    width, layers, tokens, patches, embed = 768, 12, 197, 196, 512
    block = 2 * 2 * width + (3 * width * width + 3 * width) + (width * width + width) \
        + (width * 4 * width + 4 * width) + (4 * width * width + width)
    visual = 3 * 16 * 16 * width + width + tokens * width + 2 * 2 * width + layers * block + width * embed
    result = profile_method("openvclip", method=b16)
    assert result["trainable_params"] == visual + 1 == 86_192_641          # visual tower + logit_scale
    assert result["total_params"] == 149_620_737                           # CLIP's own: no parameter added
    per_frame_layer = tokens * width * 3 * width + 2 * tokens * (3 * tokens) * width + tokens * width * width \
        + 2 * tokens * width * 4 * width                                   # qkv, q·kᵀ and a·v over 3L keys, out, MLP
    per_frame = patches * (3 * 16 * 16) * width + layers * per_frame_layer + width * embed
    analytic = (8 * per_frame + embed) / 1e9                               # + the one-class cosine
    assert result["gmacs_per_view"] == pytest.approx(analytic, abs=1e-4)
    assert result["gmacs_per_view"] == pytest.approx(151.9529, abs=1e-3)
    assert neighbour_attention_extra_macs(tokens, width, layers, 8) / 1e9 == pytest.approx(11.4452, abs=1e-4)
    assert result["text_gmacs"] == pytest.approx(2.98, abs=0.01)


# ----------------------------------------------------------------------------------------------- the block
def official_expand_temporal_view(block, x_nld: torch.Tensor, frames: int) -> torch.Tensor:
    """The official block transcribed: sequence-first tokens, heads folded into the batch (b·T·H, L, hd), keys and
    values laid out as (n_batch, T, H·hd, L), shifted into a 3·L-wide zero tensor [t+1 | t−1 | t], softmax of
    q/√hd·kᵀ with no mask, bmm with v, out-projection; x + attn(ln_1 x), then x + mlp(ln_2 x)."""
    attn = block.attn
    x = x_nld.transpose(0, 1)                                              # (L, b·T, D)
    length, bsz, width = x.shape
    heads, hd = attn.num_heads, width // attn.num_heads
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q = q.contiguous().view(length, bsz * heads, hd).transpose(0, 1)
    k = k.contiguous().view(length, bsz * heads, hd).transpose(0, 1)
    v = v.contiguous().view(length, bsz * heads, hd).transpose(0, 1)
    q = q / math.sqrt(hd)
    n_batch = bsz * heads // frames // heads

    def expand(t):
        t = t.reshape(n_batch, frames, heads, length, hd).permute(0, 1, 2, 4, 3).reshape(n_batch, frames, heads * hd,
                                                                                           length)
        out = torch.zeros(n_batch, frames, heads * hd, 3 * length)
        out[:, :-1, :, :length] = t[:, 1:]
        out[:, 1:, :, length:2 * length] = t[:, :-1]
        out[:, :, :, 2 * length:] = t
        return out.view(n_batch, frames, heads, hd, 3 * length).permute(0, 1, 2, 4, 3).reshape(bsz * heads,
                                                                                               3 * length, hd)

    weights = torch.softmax(torch.bmm(q, expand(k).transpose(-2, -1)), dim=-1)
    out = torch.bmm(weights, expand(v)).transpose(0, 1).contiguous().view(length, bsz, width)
    x = x + F.linear(out, attn.out_proj.weight, attn.out_proj.bias)
    x = x + block.mlp(block.ln_2(x))
    return x.transpose(0, 1)


def test_neighbour_frame_block_is_the_official_expand_temporal_view():
    method = toy()
    block = method.clip.visual.transformer.resblocks[1]
    assert isinstance(block, NeighbourFrameBlock)
    block.frames = 4
    x = torch.randn(2 * 4, 17, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(block(x), official_expand_temporal_view(block, x, 4), atol=1e-5)


def test_masked_padding_changes_only_the_end_frames():
    zeros, masked = toy(), toy(neighbour_padding="mask")
    for method in (zeros, masked):
        method.clip.visual.transformer.resblocks[0].frames = 5
    x = torch.randn(5, 17, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        a, b = zeros.clip.visual.transformer.resblocks[0](x), masked.clip.visual.transformer.resblocks[0](x)
    assert torch.allclose(a[1:4], b[1:4], atol=1e-5)                      # inner frames have both neighbours
    assert not torch.allclose(a[0], b[0], atol=1e-4) and not torch.allclose(a[4], b[4], atol=1e-4)


def test_parameter_names_kept_and_temporal_none_is_clip():
    method = toy()
    names = {n for n, _ in method.named_parameters()}
    assert "clip.visual.transformer.resblocks.3.attn.in_proj_weight" in names
    plain = toy(temporal="none")
    assert {n for n, _ in plain.named_parameters()} == names
    with pytest.raises(HarnessError, match="multiple of frames"):
        block = method.clip.visual.transformer.resblocks[0]
        block.frames = 3
        block(torch.randn(4, 17, 64))
    with pytest.raises(HarnessError, match="temporal"):
        toy(temporal="shift")
    with pytest.raises(HarnessError, match="unknown Open-VCLIP swa"):
        toy(swa=dict(every=1))


# ----------------------------------------------------------------------------------------------- text and training
def test_classifier_is_the_28_template_ensemble_and_the_text_tower_is_frozen():
    assert len(TEMPLATES) == 28 and TEMPLATES[0] == "a photo of {}." and TEMPLATES[-1] == \
        "a demonstration of a person practicing {}."
    method = toy().eval()
    with torch.no_grad():
        per_template = torch.stack([method.text_features(t) for t in TEMPLATES])
        expected = F.normalize(per_template.mean(0), dim=-1)
    assert torch.allclose(method.classifier(), expected, atol=1e-6)
    trainable = {n for n, p in method.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in method.named_parameters() if n.startswith("clip.visual.")} | {"clip.logit_scale"}
    groups = method.param_groups(1e-3, 0.01)
    no_decay = {id(p) for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert id(method.clip.visual.ln_pre.weight) in no_decay and id(method.clip.visual.conv1.weight) not in no_decay
    assert id(method.clip.logit_scale) not in no_decay                     # 0-D: decayed, as len(shape) == 1 is not


def test_frozen_parts_unchanged_trainable_parts_change():
    method = toy().train()
    before = {name: p.detach().clone() for name, p in method.named_parameters()}
    sgd_step(method, videos(4), torch.tensor([0, 1, 2, 3]))
    assert method.clip.token_embedding.weight.grad is None
    for name, parameter in method.named_parameters():
        assert (not torch.equal(parameter.detach(), before[name])) == parameter.requires_grad, name


def test_interpolated_term_has_the_official_gradient():
    """train_net.py: grad = ∇L(θ) + 0.5·∇_{θmix} L(θmix), θmix = λ·θ_CLIP + (1−λ)·θ (no (1−λ) factor)."""
    method = toy().train()
    sgd_step(method, videos(4, seed=5), torch.tensor([0, 1, 2, 3]), lr=0.05)   # move θ away from θ_CLIP
    method.swa_cfg["enabled"] = False
    batch, labels = videos(3, seed=6), torch.tensor([2, 0, 1])
    random.seed(11)
    ratio = random.uniform(0.0, 0.6)
    plain = copy.deepcopy(method)
    plain.interpolation["enabled"] = False
    mixed = copy.deepcopy(plain)
    with torch.no_grad():
        for name, value in method.interpolated(ratio, base=method._named_trainable()).items():
            mixed.clip.get_parameter(name).copy_(value)
    for model in (plain, mixed):
        model.zero_grad()
        model.loss(batch, labels)["loss_cls"].backward()
    method.zero_grad()
    random.seed(11)
    losses = method.loss(batch, labels)
    sum(losses.values()).backward()
    with torch.no_grad():
        assert losses["loss_interpolated"].item() == pytest.approx(0.5 * mixed.loss(batch, labels)["loss_cls"].item(),
                                                                   rel=1e-5)
    for name, parameter in method.named_parameters():
        if parameter.requires_grad:
            expected = plain.get_parameter(name).grad + 0.5 * mixed.get_parameter(name).grad
            assert torch.allclose(parameter.grad, expected, atol=1e-5, rtol=1e-4), name


def test_loss_decreases_on_a_fixed_batch():
    method = toy().train()
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-3)
    batch, labels = videos(4, seed=2), torch.tensor([0, 1, 2, 3])
    history = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = sum(method.loss(batch, labels).values())
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < history[0]


# ----------------------------------------------------------------------------------------------- SWA and test time
def test_swa_averages_end_of_epoch_weights_in_the_window():
    method = toy(swa=dict(start_epoch=2)).train()
    hub = MessageHub.get_current_instance()
    hub.update_info("loop_stage", "train")
    ends = []
    for epoch in range(4):                                                  # ids 1..4; 2, 3, 4 are averaged
        hub.update_info("epoch", epoch)
        for step in range(2):
            sgd_step(method, videos(2, seed=10 * epoch + step), torch.tensor([epoch % 4, 1]))
        ends.append(method.clip.visual.conv1.weight.detach().clone())
    assert int(method.swa.count) == 2                                      # epoch 4 has not been seen to end yet
    hub.pop_info("loop_stage")
    method.eval()                                                          # the loop is over: epoch 4 ends
    assert int(method.swa.count) == 3
    assert torch.allclose(method.swa_weights()["visual.conv1.weight"],
                          torch.stack(ends[1:]).mean(0), atol=1e-6)
    assert "swa.visual__conv1__weight" in method.state_dict()              # a checkpoint carries the average
    assert "zero_shot.visual__conv1__weight" not in method.state_dict()


def test_eval_mode_evaluates_the_interpolated_weights():
    batch, labels = videos(2, seed=7), torch.tensor([1, 3])
    zero_shot = toy().eval()
    for ratio in (1.0, 0.0, 0.5):
        method = toy(test_ratio=ratio, swa=dict(enabled=False)).train()
        sgd_step(method, batch, labels, lr=0.05)
        trained = {n: p.detach().clone() for n, p in method.named_parameters()}
        method.eval()
        reference = copy.deepcopy(method)
        with torch.no_grad():
            for name, value in method.interpolated(ratio).items():
                reference.clip.get_parameter(name).copy_(value)
            reference.train()                                              # train mode: the stored weights as they are
            expected = F.softmax(reference.logits(batch), dim=-1)
            scores = method.class_scores(batch)
        assert torch.allclose(scores, expected, atol=1e-5)
        if ratio == 1.0:
            with torch.no_grad():
                assert torch.allclose(scores, zero_shot.class_scores(batch), atol=1e-5)
        assert all(torch.equal(p, trained[n]) for n, p in method.named_parameters())  # parameters not overwritten


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
    assert set(losses) == {"loss_cls", "loss_interpolated"} and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    method.eval()
    with torch.no_grad():
        assert method(data["inputs"], mode="tensor").shape == (3, len(CLASSES))
        predicted = method(**data, mode="predict")
    assert all(s.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5) for s in predicted)


def test_swa_snapshot_after_the_last_update_of_an_epoch_via_train_step():
    from mmengine.optim import OptimWrapper

    method = toy(swa=dict(start_epoch=1)).train()
    wrapper = OptimWrapper(torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=1e-2))
    frames = torch.randint(0, 256, (2, 4, 3, 32, 32), dtype=torch.uint8)
    samples = []
    for label in (0, 2):
        sample = ActionDataSample()
        sample.set_gt_label(label)
        samples.append(sample)
    hub = MessageHub.get_current_instance()
    for key, value in (("loop_stage", "train"), ("max_iters", 4), ("max_epochs", 2), ("epoch", 0)):
        hub.update_info(key, value)
    for step in range(2):                                                  # epoch 1 = steps 0, 1
        hub.update_info("iter", step)
        method.train_step(dict(inputs=list(frames), data_samples=samples), wrapper)
    assert int(method.swa.count) == 1                                      # taken after step 1's update
    assert torch.equal(method.swa_weights()["visual.conv1.weight"], method.clip.visual.conv1.weight.detach())
    hub.update_info("epoch", 1)
    hub.update_info("iter", 2)
    method.train_step(dict(inputs=list(frames), data_samples=samples), wrapper)
    assert int(method.swa.count) == 1                                      # the epoch change does not fold epoch 1 twice
