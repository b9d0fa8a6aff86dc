import pytest

from harness.engine.config import build_config, parse_cfg_options
from harness.errors import HarnessError


def test_cfg_options_parse_nested_typed_values():
    assert parse_cfg_options(["train.epochs=3", "model.text.source=names", "data.allow_missing=true"]) == {
        "train": {"epochs": 3}, "model": {"text": {"source": "names"}}, "data": {"allow_missing": True}}


def test_misspelled_key_names_the_nearest_valid_key():
    with pytest.raises(HarnessError) as error:
        build_config("ezclip", embedded=True, cfg_options=["train.epoch=3"])
    message = str(error.value)
    assert "train.epoch" in message and "epochs" in message and "\n" not in message


def test_unknown_model_option_rejected():
    with pytest.raises(HarnessError, match="model.motion_los"):
        build_config("ezclip", embedded=True, cfg_options=["model.motion_los=false"])


def test_wrong_type_named():
    with pytest.raises(HarnessError, match="expects int"):
        build_config("ezclip", embedded=True, cfg_options=["train.epochs=many"])


def test_embedded_overrides_apply_only_to_the_toy_backbone():
    embedded = build_config("ezclip", embedded=True)
    full = build_config("ezclip", embedded=False, backbone="ViT-B-16")
    assert full["backbone"] == {"name": "ViT-B-16", "pretrained": "none", "quick_gelu": "auto"}
    assert embedded["backbone"]["name"] == "toy-vit"
    assert embedded["train"] != full["train"]


def test_checkpoint_selection_never_on_test():
    with pytest.raises(HarnessError, match="never"):
        build_config("ezclip", embedded=True, cfg_options=["runtime.checkpoint_selection=test"])


def test_ablation_variants_are_configs_of_their_base():
    from harness.engine.config import build_config
    from harness.models.methods_registry import list_methods, method_class
    from harness.engine.records import make_run_id

    full = build_config("ezclip", embedded=True)
    for variant, key in [("ezclip-no-prompts", "prompts"), ("ezclip-no-motion-loss", "motion_loss"),
                         ("ezclip-no-adapters", "adapters")]:
        assert variant in list_methods()
        assert method_class(variant) is method_class("ezclip")
        config = build_config(variant, embedded=True)
        assert config["model"][key] is False and full["model"][key] is True
        assert {k: v for k, v in config["model"].items() if k != key} == \
            {k: v for k, v in full["model"].items() if k != key}
        assert config["train"] == full["train"]  # same schedule, embedded overrides included
        assert make_run_id(variant, "u", config, {}) != make_run_id("ezclip", "u", full, {})


def test_a_variant_with_an_unknown_model_key_is_refused(tmp_path, monkeypatch):
    from harness.models import methods_registry
    from harness.engine.config import build_config

    bad = tmp_path / "ezclip-typo.yaml"
    bad.write_text("variant_of: ezclip\nmodel: {motion_los: false}\n")
    monkeypatch.setitem(methods_registry._METHODS, "ezclip-typo",
                        dict(target="methods.ezclip:EZCLIP", config=bad, variant_of="ezclip"))
    with pytest.raises(HarnessError, match="motion_los.*motion_loss"):
        build_config("ezclip-typo", embedded=True)


def test_eval_limit_changes_the_run_id_only_when_set():
    from harness.engine.config import identity_config
    from harness.engine.records import make_run_id

    default = build_config("clip", embedded=True)
    limited = build_config("clip", embedded=True, cfg_options=["eval.limit=40"])
    assert "limit" not in identity_config(default)["eval"]  # records made before the key keep their ids
    assert make_run_id("clip", "u", identity_config(default), {}) != make_run_id("clip", "u", identity_config(limited), {})
    with pytest.raises(HarnessError, match="eval.limit"):
        build_config("clip", embedded=True, cfg_options=["eval.limit=-1"])


def test_limited_evaluation_takes_evenly_spaced_videos_and_says_so(tmp_path):
    from harness.engine.runner import run

    record = run("clip", "few_shot", datasets=["toy-temporal"], shots=[2], cfg_options=["eval.limit=40"],
                 records_dir=str(tmp_path / "r"), work_dir=str(tmp_path / "w"))[0]
    evaluation = record["evaluations"][0]
    assert evaluation["metrics"]["n_videos"] == 40 and evaluation["limited"]["videos"] == 40
    assert evaluation["limited"]["of"] > 40
    assert len({p["label"] for p in evaluation["predictions"]}) == evaluation["num_classes"]  # spread over classes


def test_exponent_without_dot_is_a_float():
    """YAML 1.1 would read ``lr=1e-4`` as the string '1e-4' and the type check would refuse it."""
    from harness.engine.config import parse_cfg_options

    parsed = parse_cfg_options(["train.optimizer.lr=1e-4", "x=-3E2", "name=1e", "n=7"])
    assert parsed == {"train": {"optimizer": {"lr": 1e-4}}, "x": -300.0, "name": "1e", "n": 7}


def test_embedded_schedule_of_one_protocol_on_one_dataset():
    """``embedded.units["few_shot/toy-temporal"]`` applies to that unit only; --cfg-options still win."""
    from harness.engine.config import build_config, embedded_units

    assert "few_shot/toy-temporal" in embedded_units("xclip")
    assert build_config("xclip", True, unit="few_shot/toy-temporal")["train"]["epochs"] == 40
    assert build_config("xclip", True, unit="few_shot/toy-target-a")["train"]["epochs"] == 6
    assert build_config("xclip", True, ["train.epochs=2"], unit="few_shot/toy-temporal")["train"]["epochs"] == 2
    assert build_config("xclip", False, unit="few_shot/toy-temporal")["train"]["epochs"] == 30  # real path: official
    assert build_config("ezclip-no-motion-loss", True, unit="few_shot/toy-temporal")["train"]["epochs"] == 40


def test_auto_keys_take_true_or_false():
    """``backbone.quick_gelu`` is "auto" by default; true / false override it (an official checkpoint's
    automatic QuickGELU can be switched off)."""
    from harness.engine.config import build_config

    assert build_config("clip", True, ["backbone.quick_gelu=false"])["backbone"]["quick_gelu"] is False
    assert build_config("clip", True, ["backbone.quick_gelu=true"])["backbone"]["quick_gelu"] is True
