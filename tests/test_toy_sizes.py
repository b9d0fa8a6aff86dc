"""The embedded toy CLIP sizes (toy-vit-s, toy-vit, toy-vit-l) and the backbone axis they give offline:
every size resolves as embedded, toy-vit's cache file and fingerprint stay what every existing run id was made
with, a new size pretrains, and extra-backbone records never change the protocol tables."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import fake_records as fake
from harness.engine.config import build_config
from harness.errors import HarnessError
from harness.models import backbones, toyclip
from harness.reports import loading, tables

# toy-vit's fingerprint when it was the only size (records/ run ids hash it); a change here means new run ids
TOY_VIT_FINGERPRINT = "0aa383ac6f87428f55ffc701513474d56701ce1c81e5e74791111ea0158b1dca"


def test_every_toy_size_resolves_as_embedded_with_the_embedded_schedule():
    assert backbones.EMBEDDED_BACKBONES == toyclip.TOY_MODELS
    reference = build_config("ezclip", embedded=True)
    for name in toyclip.TOY_MODELS:
        assert backbones.is_embedded_backbone(name) and name in backbones.list_backbones()
        config = build_config("ezclip", embedded=True, backbone=name)
        assert config["backbone"] == dict(reference["backbone"], name=name)  # pretrained "embedded"
        assert config["train"] == reference["train"] and config["model"] == reference["model"]
    assert backbones.is_embedded_backbone(None) and not backbones.is_embedded_backbone("ViT-B-16")
    assert build_config("ezclip", embedded=True, backbone="ViT-B-16")["backbone"]["pretrained"] == "none"


def test_toy_vit_keeps_its_cache_file_and_fingerprint(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    assert toyclip.checkpoint_path().name == "toy-clip-v2.pt" == toyclip.checkpoint_path("toy-vit").name
    assert toyclip.fingerprint() == TOY_VIT_FINGERPRINT
    names = {toyclip.checkpoint_path(n).name for n in toyclip.TOY_MODELS}
    assert names == {"toy-clip-v2.pt", "toy-clip-v2-toy-vit-s.pt", "toy-clip-v2-toy-vit-l.pt"}
    assert len({toyclip.fingerprint(n) for n in toyclip.TOY_MODELS}) == 3
    with pytest.raises(HarnessError, match="unknown embedded toy backbone 'toy-vit-m'"):
        toyclip.checkpoint_path("toy-vit-m")


def test_sizes_differ_as_configured():
    widths = [json.loads(toyclip.config_path(n).read_text())["vision_cfg"]["width"] for n in toyclip.TOY_MODELS]
    assert widths == sorted(widths) and len(set(widths)) == 3


def test_tiny_pretrain_of_the_small_size_loads_into_its_architecture():
    import open_clip

    state = toyclip.pretrain(steps=2, log=lambda _: None, name="toy-vit-s")
    assert state["visual.conv1.weight"].shape[0] == 32
    model = open_clip.create_model("toy-vit-s")
    model.load_state_dict(state)
    again = toyclip.pretrain(steps=2, log=lambda _: None, name="toy-vit-s")
    assert all(torch.equal(state[k], again[k]) for k in state)  # same seeded recipe, same weights


def _extra_backbone_copy(rec: dict, backbone: str) -> dict:
    """The same unit run later on another backbone, with different accuracy (it must not replace the original)."""
    extra = json.loads(json.dumps(rec))
    extra["run_id"] = rec["run_id"].replace("000000000000", "111111111111")
    extra["created_utc"] = "2026-12-02T10:00:00Z"
    extra["model"]["backbone"] = backbone
    for evaluation in extra["evaluations"]:
        for prediction in evaluation["predictions"]:  # every video wrong
            prediction["pred"] = (prediction["label"] + 1) % fake.NUM_CLASSES
            prediction["topk"] = [prediction["pred"], prediction["label"]]
        evaluation["metrics"].update(top1=0.0, mean_class_accuracy=0.0)
    return extra


def _snapshot(results: Path, stems: tuple[str, ...]) -> dict:
    return {p.name: p.read_bytes() for stem in stems for p in sorted(results.glob(f"{stem}.*"))}


def test_extra_backbone_records_leave_the_protocol_tables_unchanged(tmp_path):
    records = tmp_path / "records"
    fake.write_suite(records, methods=("ezclip", "clip"))
    tables.build_tables(records, tmp_path / "before")
    raw, _ = loading.load_records(records)
    for rec in raw:
        if loading.protocol_name(rec) == "base2novel":
            fake.write(records, _extra_backbone_copy({k: v for k, v in rec.items() if k != "_path"}, "toy-vit-s"))
    tables.build_tables(records, tmp_path / "after")
    stems = ("base2novel", "zero_shot", "few_shot", "efficiency")
    before, after = _snapshot(tmp_path / "before", stems), _snapshot(tmp_path / "after", stems)
    assert len(before) == 3 * len(stems) and after == before
    axis = (tmp_path / "after" / "backbones.csv").read_text()
    assert "toy-vit-s" in axis and "toy-vit," in axis
    assert loading.main_backbone(loading.load_records(records)[0]) == ("toy-vit", "embedded")
