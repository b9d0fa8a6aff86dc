"""Video-encoding reuse (harness/models/feature_cache.py): a hit only for the same batch content and the same weights,
and a hit gives exactly what the model computes."""
from __future__ import annotations

import pytest
import torch
from mmaction.structures import ActionDataSample

from harness.engine.config import build_config, identity_config
from harness.models.feature_cache import FeatureCache, batch_key, weights_fingerprint
from harness.engine.records import make_run_id
from methods.clip import FrozenCLIP
from methods.xclip import XCLIP

TOY = dict(name="toy-vit", pretrained="none")
CLASSES = ["jumping jacks", "waving hands", "sliding left"]


def _batch(seed: int, videos: int = 2, frames: int = 2, views: int = 1):
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (views * frames, 3, 32, 32), dtype=torch.uint8, generator=generator)
              for _ in range(videos)]
    samples = []
    for i in range(videos):
        sample = ActionDataSample()
        sample.set_gt_label(i % len(CLASSES))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


class _Counting:
    """Counts calls of the model's ``video_encoding`` (the work a hit saves)."""

    def __init__(self, model):
        self.calls, self._original = 0, model.video_encoding

        def counted(videos):
            self.calls += 1
            return self._original(videos)

        model.video_encoding = counted


def _scores(model, data):
    with torch.no_grad():
        return torch.stack([s.pred_score for s in model.test_step(data)])


def _assert_recomputed(model, data, expected_misses: int):
    """Scoring ``data`` misses the model's cache and gives what the model computes without any cache."""
    cache = model.feature_cache
    with_cache = _scores(model, data)
    assert cache.counts() == dict(hits=0, misses=expected_misses)
    model.feature_cache = None
    assert torch.equal(with_cache, _scores(model, data))


@pytest.fixture
def clip_model():
    torch.manual_seed(0)
    model = FrozenCLIP(backbone=TOY, frames=2).eval()
    model.set_class_names(CLASSES)
    return model


def test_second_evaluation_of_the_same_batch_is_served_from_the_cache(clip_model):
    cache = FeatureCache()
    counter = _Counting(clip_model)
    uncached = _scores(clip_model, _batch(0))
    clip_model.feature_cache = cache
    first, second = _scores(clip_model, _batch(0)), _scores(clip_model, _batch(0))
    assert counter.calls == 2  # once uncached, once to fill the cache, none for the hit
    assert cache.counts() == dict(hits=1, misses=1)
    assert torch.equal(first, uncached) and torch.equal(second, uncached)


def test_a_hit_serves_another_class_set_exactly(clip_model):
    cache = FeatureCache()
    clip_model.feature_cache = cache
    _scores(clip_model, _batch(1))
    clip_model.set_class_names(["sliding left", "rotating"])
    reused = _scores(clip_model, _batch(1))
    clip_model.feature_cache = None
    assert cache.hits == 1 and reused.shape == (2, 2)
    assert torch.equal(reused, _scores(clip_model, _batch(1)))


def test_other_content_or_changed_weights_miss(clip_model):
    cache = FeatureCache()
    clip_model.feature_cache = cache
    _scores(clip_model, _batch(2))
    _scores(clip_model, _batch(3))  # different frames
    assert cache.counts() == dict(hits=0, misses=2)
    state = clip_model.state_dict()
    state["clip.visual.proj"] = state["clip.visual.proj"] + 0.01
    clip_model.load_state_dict(state)  # new weights: new fingerprint
    _assert_recomputed(clip_model, _batch(2), expected_misses=3)


def test_training_mode_resets_the_fingerprint_and_a_new_instance_with_equal_weights_hits(clip_model):
    cache = FeatureCache()
    clip_model.feature_cache = cache
    _scores(clip_model, _batch(4))
    fingerprint = clip_model.weights_fingerprint()
    clip_model.train().eval()
    assert clip_model._weights_fingerprint is None
    twin = FrozenCLIP(backbone=TOY, frames=2).eval()
    twin.load_state_dict(clip_model.state_dict())
    twin.set_class_names(CLASSES)
    twin.feature_cache = cache
    assert twin.weights_fingerprint() == fingerprint == weights_fingerprint(clip_model)
    _scores(twin, _batch(4))
    assert cache.hits == 1


def test_views_are_cached_separately(clip_model):
    cache = FeatureCache()
    clip_model.feature_cache = cache
    first = _scores(clip_model, _batch(5, views=2))
    second = _scores(clip_model, _batch(5, views=2))
    assert cache.counts() == dict(hits=2, misses=2) and torch.equal(first, second)


def test_xclip_tuple_encoding_round_trips():
    torch.manual_seed(0)
    model = XCLIP(backbone=TOY, frames=2).eval()
    model.set_class_names(CLASSES)
    plain = _scores(model, _batch(6))
    model.feature_cache = FeatureCache()
    _scores(model, _batch(6))
    cached = _scores(model, _batch(6))
    assert model.feature_cache.hits == 1 and torch.equal(cached, plain)


def test_budget_evicts_least_recently_used():
    cache = FeatureCache(budget_mb=2 * 4096 / 2**20)  # room for two (1, 1024) float tensors
    for i in range(3):
        cache.put(("k", i), torch.zeros(1, 1024))
    assert len(cache) == 2 and cache.get(("k", 0), "cpu") is None
    assert torch.equal(cache.get(("k", 2), "cpu"), torch.zeros(1, 1024))


def test_batch_key_depends_on_every_byte_and_shape():
    data = _batch(7)["inputs"]
    changed = [t.clone() for t in data]
    changed[1][0, 0, 0, 0] ^= 1
    assert batch_key(data) == batch_key([t.clone() for t in data])
    assert batch_key(data) != batch_key(changed)
    assert batch_key(data) != batch_key([t.view(1, *t.shape) for t in data])


def test_the_switch_is_not_part_of_the_run_id():
    on = build_config("clip", embedded=True)
    off = build_config("clip", embedded=True, cfg_options=["eval.feature_cache=false"])
    assert on["eval"]["feature_cache"] is True and off["eval"]["feature_cache"] is False
    unit = dict(protocol="zero_shot")
    assert make_run_id("clip", "u", identity_config(on), unit) == make_run_id("clip", "u", identity_config(off), unit)
    other = build_config("clip", embedded=True, cfg_options=["eval.batch_size=4"])
    assert make_run_id("clip", "u", identity_config(other), unit) != make_run_id("clip", "u", identity_config(on), unit)


def test_weights_changed_in_place_are_seen_after_a_refresh(clip_model):
    cache = FeatureCache()
    clip_model.feature_cache = cache
    _scores(clip_model, _batch(8))
    with torch.no_grad():
        clip_model.clip.visual.proj.add_(0.01)  # neither train() nor load_state_dict: only a refresh notices
    clip_model.weights_fingerprint(refresh=True)  # what the runner does before every evaluation
    _assert_recomputed(clip_model, _batch(8), expected_misses=2)


def test_options_that_change_the_computation_but_not_the_weights_miss(clip_model):
    cache = FeatureCache()
    clip_model.feature_cache = cache
    clip_model.feature_cache_scope = "options-a"
    _scores(clip_model, _batch(9))
    clip_model.feature_cache_scope = "options-b"  # e.g. ActionCLIP conv1d_official_view: same state dict
    _scores(clip_model, _batch(9))
    assert cache.counts() == dict(hits=0, misses=2)
