"""End to end on the embedded benchmark: every method under every protocol, records, reruns, plugins."""
from __future__ import annotations

import json
import sys

import pytest

from conftest import cli_in_process
from harness.engine.runner import run

FAST = ["train.epochs=1", "train.warmup_epochs=0", "eval.limit=48", "runtime.train_eval_videos=32"]  # smoke-sized
# every method × every protocol checks the plumbing, not accuracy: 4 frames (ViFi-CLIP's own config has 32),
# 16 videos per evaluation list, 8 training videos re-evaluated
SMOKE = ["train.epochs=1", "train.warmup_epochs=0", "eval.limit=16", "runtime.train_eval_videos=8", "model.frames=4"]
METHODS = ["clip", "ezclip", "actionclip", "xclip", "vificlip"]


def _run(method, protocol, tmp_path, **kwargs):
    kwargs.setdefault("cfg_options", FAST)
    return run(method, protocol, records_dir=str(tmp_path / "records"), work_dir=str(tmp_path / "work"), **kwargs)


def _check_record(record):
    assert record["schema_version"] == 1
    assert record["environment"]["versions"]["torch"]
    assert record["file_hashes"] and all(len(h) == 64 for h in record["file_hashes"].values())
    assert record["protocol"]["hash"] and record["protocol"]["version"] >= 1
    for evaluation in record["evaluations"]:
        metrics = evaluation["metrics"]
        assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0
        assert metrics["n_videos"] == len(evaluation["predictions"]) > 0
        assert evaluation["skipped"] == []
        labels = {p["label"] for p in evaluation["predictions"]}
        assert labels <= set(range(evaluation["num_classes"]))


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_method_under_every_protocol(method, tmp_path):
    b2n = _run(method, "base2novel", tmp_path, seeds=[1], cfg_options=SMOKE)
    assert {r["dataset"] for r in b2n} == {"toy-source", "toy-temporal"}
    assert [e["name"] for e in b2n[0]["evaluations"]] == ["base", "novel"]
    few = _run(method, "few_shot", tmp_path, shots=[2], datasets=["toy-target-a"], cfg_options=SMOKE)
    assert few[0]["unit"]["shots"] == 2 and few[0]["evaluations"][0]["name"] == "test"
    zero = _run(method, "zero_shot", tmp_path, cfg_options=SMOKE)
    names = [e["name"] for e in zero[0]["evaluations"]]
    assert len([n for n in names if n.startswith("toy-target-a/")]) == 3
    assert len([n for n in names if n.startswith("toy-target-b/")]) == 3
    for record in b2n + few + zero:
        _check_record(record)
        trained = record["training"] is not None
        assert trained == (method != "clip")
        if trained:
            assert record["training"]["iterations"] > 0 and record["training"]["final_loss"] is not None
        assert record["model"]["gmacs_per_view"] > 0 and record["model"]["frames"] == 4


def test_rerun_skips_finished_units_and_force_reruns(tmp_path):
    first = _run("clip", "base2novel", tmp_path, seeds=[1], datasets=["toy-source"])
    again = _run("clip", "base2novel", tmp_path, seeds=[1], datasets=["toy-source"])
    assert again[0]["run_id"] == first[0]["run_id"] and again[0]["created_utc"] == first[0]["created_utc"]
    forced = _run("clip", "base2novel", tmp_path, seeds=[1], datasets=["toy-source"], force=True)
    assert forced[0]["run_id"] == first[0]["run_id"]
    files = list((tmp_path / "records").rglob("*.json"))
    assert len(files) == 1
    # same seed, same machine: identical per-video predictions
    assert forced[0]["evaluations"][0]["predictions"] == first[0]["evaluations"][0]["predictions"]


def test_toy_clip_zero_shot_beats_chance_by_3x(tmp_path):
    records = _run("clip", "zero_shot", tmp_path)
    for evaluation in records[0]["evaluations"]:
        chance = 1 / evaluation["num_classes"]
        assert evaluation["metrics"]["top1"] >= 3 * chance, evaluation["name"]


def test_plugin_method_registered_from_outside_runs_end_to_end(tmp_path, capfd, monkeypatch):
    """In-process (tests/test_readme.py runs a plugin in a fresh process); the registration is undone after."""
    from harness.models import methods_registry

    plugin = "tests.plugins.frame_weights"
    monkeypatch.setattr(methods_registry, "_METHODS", dict(methods_registry._METHODS))
    monkeypatch.delitem(sys.modules, plugin, raising=False)  # imported afresh: --plugin must register it
    try:
        result = cli_in_process(["--plugin", plugin, "run", "--method", "frame-weights", "--protocol", "few_shot",
                                 "--dataset", "toy-target-a", "--shots", "2", "--records", tmp_path / "records",
                                 "--work-dir", tmp_path / "work", "--cfg-options", "eval.limit=48",
                                 "runtime.train_eval_videos=8"], capfd)
    finally:
        sys.modules.pop(plugin, None)
    assert result.returncode == 0, result.stderr[-2000:]
    records = list((tmp_path / "records").rglob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["method"] == "frame-weights" and record["model"]["trainable_params"] == 8
    assert record["training"]["iterations"] > 0


def test_repeated_evaluations_of_a_frozen_model_reuse_encodings_exactly(tmp_path):
    cached = _run("clip", "base2novel", tmp_path / "on", seeds=[1, 2], datasets=["toy-temporal"])
    second = cached[1]["evaluations"]
    assert all(e["feature_cache"]["misses"] == 0 and e["feature_cache"]["hits"] > 0 for e in second)
    assert all(e["throughput_clips_per_s"] is None for e in second)  # reuse is not the model's speed
    plain = _run("clip", "base2novel", tmp_path / "off", seeds=[1, 2], datasets=["toy-temporal"],
                 cfg_options=FAST + ["eval.feature_cache=false"])
    assert [r["run_id"] for r in plain] == [r["run_id"] for r in cached]  # a result-neutral switch
    for with_cache, without in zip(cached, plain):
        for a, b in zip(with_cache["evaluations"], without["evaluations"]):
            assert b["feature_cache"] is None and b["throughput_clips_per_s"] > 0
            assert a["predictions"] == b["predictions"]
