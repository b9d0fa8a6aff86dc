"""Official checkpoints (issue: released checkpoints load, evaluate and are checked against published numbers).

Every official file here is synthesised by THIS module from the official repositories' own module names
(written out below, independently of the methods' ``official_layout``), on the small toy CLIP with random
non-zero values in every parameter — added modules included (EZ-CLIP's zero-initialised adapter outputs and
temporal embedding too). Converted, it must load strictly and give the same forward as the harness state dict
of the same weights; converted back, it must give the same tensors; every malformed file is one line, exit 2.

The official containers, from the saving code: EZ-CLIP / ActionCLIP ``utils/saving.py`` {'epoch',
'model_state_dict', ('fusion_model_state_dict',) 'optimizer_state_dict'} (the ActionCLIP fusion head wrapped in
DataParallel); X-CLIP ``utils/tools.py`` {'model': model.module.state_dict(), 'optimizer', 'lr_scheduler',
'max_accuracy', 'epoch', 'config' (a yacs CfgNode)}; ViFi-CLIP the same with the DDP-wrapped model
('module.' names, no token table, the class-name prompt embeddings as a buffer).
"""
from __future__ import annotations

import re

import pytest
import torch

from harness.cli import main
from harness.engine.config import build_config
from harness.models.methods_registry import method_class

CLASSES = ["jumping jacks", "waving hands", "sliding left", "spinning"]
DESCRIPTIONS = {name: f"a person is {name} in front of the camera" for name in CLASSES}
#: OpenAI clip/model.py convert_weights: these are fp16 in checkpoints saved by the EZ-CLIP / ActionCLIP GPU code
HALF = re.compile(r"(conv1\.weight|in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias|c_fc\.weight|"
                  r"c_fc\.bias|c_proj\.weight|c_proj\.bias|D_fc[12]\.weight|D_fc[12]\.bias|text_projection|"
                  r"visual\.proj)$")


class CfgNode(dict):
    """Stands in for the yacs CfgNode X-CLIP and ViFi-CLIP pickle next to the weights (not a tensor class)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.__dict__["frozen"] = True


def training_state() -> dict:
    return {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(4)}},
            "param_groups": [{"lr": 1e-5, "params": [0]}]}


# --------------------------------------------------------------------------- official names, written out here
def official_ezclip(state: dict, half: bool = True) -> dict:
    weights = {k.removeprefix("clip."): (v.half() if half and HALF.search(k) else v) for k, v in state.items()}
    return {"epoch": 49, "model_state_dict": weights, "optimizer_state_dict": training_state()}


def official_actionclip(state: dict, half: bool = True) -> dict:
    clip = {k.removeprefix("clip."): (v.half() if half and HALF.search(k) else v)
            for k, v in state.items() if k.startswith("clip.")}
    fusion = {}
    for key, value in state.items():
        if key.startswith("fusion.transformer.") and re.match(r"fusion\.transformer\.\d+\.", key):
            fusion["module." + key.replace("fusion.transformer.", "transformer.resblocks.", 1)] = value  # Transf
        elif key.startswith("fusion."):
            fusion["module." + key.removeprefix("fusion.")] = value
    return {"epoch": 49, "model_state_dict": clip, "fusion_model_state_dict": fusion,
            "optimizer_state_dict": training_state()}


def official_xclip(state: dict) -> dict:
    model = {k.removeprefix("clip."): v for k, v in state.items()}
    return {"model": model, "optimizer": training_state(), "lr_scheduler": {"last_epoch": 9}, "max_accuracy": 44.6,
            "epoch": 9, "config": CfgNode(ARCH="ViT-B/16", NUM_FRAMES=8)}


VIFI_TEXT = {"clip.transformer.": "text_encoder.transformer.", "clip.positional_embedding": "text_encoder.positional_embedding",
             "clip.ln_final.": "text_encoder.ln_final.", "clip.text_projection": "text_encoder.text_projection",
             "clip.visual.": "image_encoder.", "clip.logit_scale": "logit_scale"}


def official_vificlip(state: dict) -> dict:
    model = {}
    for key, value in state.items():
        if key == "clip.token_embedding.weight":
            continue  # ViFiCLIP holds no token table (VLPromptLearner embeds the prompts once, as a buffer)
        prefix = next(p for p in VIFI_TEXT if key.startswith(p))
        model["module." + VIFI_TEXT[prefix] + key[len(prefix):]] = value
    model["module.prompt_learner.complete_text_embeddings"] = torch.randn(len(CLASSES), 32, 64)
    return {"model": model, "optimizer": training_state(), "lr_scheduler": {}, "max_accuracy": 51.3, "epoch": 10,
            "config": CfgNode(USE="both")}


def official_clip(state: dict) -> dict:
    bare = {k.removeprefix("clip."): v.half() if HALF.search(k) else v for k, v in state.items()}
    bare.update(input_resolution=torch.tensor(32), context_length=torch.tensor(32), vocab_size=torch.tensor(49408))
    return bare


OFFICIAL = {"ezclip": official_ezclip, "actionclip": official_actionclip, "xclip": official_xclip,
            "vificlip": official_vificlip, "clip": official_clip}
#: official tensors the harness deliberately leaves out (and the formats that have them)
DROPPED = {"vificlip": {"module.prompt_learner.complete_text_embeddings"}}


# --------------------------------------------------------------------------- models
def build(method: str, **options):
    config = build_config(method, True, [f"model.{k}={v}" for k, v in options.items()])
    model = method_class(method)(backbone=config["backbone"], **config["model"]).eval()
    model.set_class_names(CLASSES, DESCRIPTIONS)
    return model


def randomised(method: str, seed: int = 0, **options):
    """A toy model with every parameter random and non-zero (ViFi-CLIP keeps the backbone's token table, which
    its files do not hold); tensors official code keeps in fp16 are rounded through fp16, so the official file
    and the harness weights are the same numbers."""
    model = build(method, **options)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if method == "vificlip" and name == "clip.token_embedding.weight":
                continue
            if tensor.is_floating_point():
                tensor.copy_((torch.rand(tensor.shape, generator=generator) * 0.2 + 0.05)
                             * torch.where(torch.rand(tensor.shape, generator=generator) < 0.5, -1.0, 1.0))
                if method in ("ezclip", "actionclip", "clip") and HALF.search(name):
                    tensor.copy_(tensor.half().float())
    model.clip.logit_scale.data.fill_(2.0)
    assert all(t.abs().min() > 0 for n, t in model.state_dict().items() if t.is_floating_point()
               and not (method == "vificlip" and "token_embedding" in n))
    return model


@pytest.fixture(scope="module")
def models():
    return {method: randomised(method) for method in OFFICIAL}


VIDEOS = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(7))


def forward(model) -> torch.Tensor:
    with torch.no_grad():
        model.set_class_names(CLASSES, DESCRIPTIONS)
        return model.class_scores(VIDEOS)


def convert(capfd, *argv) -> str:
    capfd.readouterr()
    status = main(["convert", *map(str, argv)])
    out, err = capfd.readouterr()
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return lines[0]


def one_line_error(capfd, *argv) -> str:
    capfd.readouterr()
    status = main([*map(str, argv)])
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (status, err)
    assert "Traceback" not in out + err
    return lines[0]


def loaded(path) -> dict:
    """DST as run --checkpoint reads it: torch.load (weights_only) → mmengine {'state_dict', 'meta'} or a state dict."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    return obj["state_dict"] if "state_dict" in obj else obj


# --------------------------------------------------------------------------- official → harness → official
@pytest.mark.parametrize("method", list(OFFICIAL))
def test_official_checkpoint_converts_loads_strictly_and_converts_back(method, models, tmp_path, capfd):
    """Official → harness: loads strictly, same forward as the harness state dict of the same weights, every
    dropped tensor named with its reason. Harness → official: the same tensors (names, dtypes, values), except
    the dropped ones and the entries that are not weights (epoch, optimizer, config)."""
    model = models[method]
    original = OFFICIAL[method](model.state_dict())
    src, dst = tmp_path / "official.pt", tmp_path / "harness.pth"
    torch.save(original, src)
    line = convert(capfd, "--method", method, src, dst)
    mapped = int(re.search(r"(\d+) tensors mapped", line).group(1))
    assert mapped == len(model.state_dict()) - (method == "vificlip")
    fresh = build(method)
    fresh.load_state_dict(loaded(dst), strict=True)
    assert torch.equal(forward(fresh), forward(model))
    for name in DROPPED.get(method, ()):
        assert name.removeprefix("module.") in line  # every deliberately dropped tensor is named, with its reason
    if method == "vificlip":
        assert "from the backbone: clip.token_embedding.weight" in line
    if method in ("xclip", "vificlip"):
        assert "not weights, not read: optimizer, lr_scheduler, max_accuracy, epoch, config" in line
    meta = torch.load(dst, weights_only=True)["meta"]
    assert meta["converted_from"]["sha256"] and meta["method"] == method

    convert(capfd, "--method", method, dst, tmp_path / "back.pt", "--to", "official")
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    if method == "clip":  # a bare state dict; the TorchScript scalars are not weights and do not come back
        pairs = [({k: v for k, v in original.items() if not k.endswith(("resolution", "length", "size"))}, back)]
    else:
        pairs = [(original[key], back[key]) for key in back]
    for before, after in pairs:
        before = {k: v for k, v in before.items() if k not in DROPPED.get(method, ())}
        assert set(after) == set(before)
        for key in before:
            assert after[key].dtype == before[key].dtype and torch.equal(after[key], before[key]), key


@pytest.mark.parametrize("fusion", ["LSTM", "Transf_cls", "meanP"])
def test_actionclip_fusion_heads(fusion, tmp_path, capfd):
    """Every fusion head maps; the unused frame_position_embeddings of LSTM / Transf_cls is dropped by name."""
    model = randomised("actionclip", fusion=fusion)
    official = official_actionclip(model.state_dict())
    if fusion != "meanP":
        official["fusion_model_state_dict"]["module.frame_position_embeddings.weight"] = torch.randn(32, 64)
    torch.save(official, tmp_path / "a.pt")
    line = convert(capfd, "--method", "actionclip", tmp_path / "a.pt", tmp_path / "h.pth",
                   "--cfg-options", f"model.fusion={fusion}")
    if fusion != "meanP":
        assert "frame_position_embeddings.weight (built by the official" in line
    fresh = build("actionclip", fusion=fusion)
    fresh.load_state_dict(loaded(tmp_path / "h.pth"), strict=True)
    assert torch.equal(forward(fresh), forward(model))


def test_official_to_official_directly_keeps_the_official_dtypes(models, tmp_path, capfd):
    """Without harness meta, --to official takes each tensor's dtype from the official file it read."""
    original = official_actionclip(models["actionclip"].state_dict())
    torch.save(original, tmp_path / "official.pt")
    convert(capfd, "--method", "actionclip", tmp_path / "official.pt", tmp_path / "direct.pt", "--to", "official")
    direct = torch.load(tmp_path / "direct.pt", weights_only=True)
    for section in ("model_state_dict", "fusion_model_state_dict"):
        assert direct[section].keys() == original[section].keys()
        assert all(torch.equal(direct[section][k], original[section][k]) and
                   direct[section][k].dtype == original[section][k].dtype for k in original[section])


def test_round_trip_from_a_harness_checkpoint_uses_the_official_dtypes(models, tmp_path, capfd):
    """A harness training's own state dict written --to official: fp16 exactly where EZ-CLIP's GPU code keeps it."""
    model = models["ezclip"]
    torch.save(model.state_dict(), tmp_path / "final_state_dict.pth")
    line = convert(capfd, "--method", "ezclip", tmp_path / "final_state_dict.pth", tmp_path / "official.pt",
                   "--to", "official")
    assert "as EZ-CLIP train.py checkpoint" in line and "fp16 as the official code saves them" in line
    weights = torch.load(tmp_path / "official.pt", weights_only=True)["model_state_dict"]
    assert weights["visual.conv1.weight"].dtype == torch.float16
    assert weights["visual.transformer.T_prompt_embeddings"].dtype == torch.float32
    assert weights["visual.transformer.resblocks.0.Adapter.D_fc2.weight"].dtype == torch.float16
    assert weights["visual.temporal_embedding"].dtype == torch.float32


# --------------------------------------------------------------------------- variants
def _module(weights: dict) -> dict:
    return {"module." + k: v for k, v in weights.items()}


EVERYTHING, CLIP_ONLY = (lambda name: True), (lambda name: name.startswith("clip."))
#: variant → (method, official file from the harness state, harness names whose file tensors are fp16)
VARIANTS = {
    "ezclip-fp16": ("ezclip", lambda s: {**official_ezclip(s), "model_state_dict": {
        k: v.half() for k, v in official_ezclip(s)["model_state_dict"].items()}}, EVERYTHING),
    "ezclip-module": ("ezclip", lambda s: {"model_state_dict": _module(official_ezclip(s)["model_state_dict"])}, None),
    "ezclip-bare": ("ezclip", lambda s: official_ezclip(s)["model_state_dict"], None),
    "actionclip-fp16-module": ("actionclip", lambda s: {
        "model_state_dict": _module({k: v.half() for k, v in official_actionclip(s)["model_state_dict"].items()}),
        "fusion_model_state_dict": official_actionclip(s)["fusion_model_state_dict"]}, CLIP_ONLY),
    "xclip-module": ("xclip", lambda s: {"model": _module(official_xclip(s)["model"])}, None),
    "xclip-bare-fp16": ("xclip", lambda s: {k: v.half() for k, v in official_xclip(s)["model"].items()}, EVERYTHING),
    "vificlip-bare": ("vificlip", lambda s: official_vificlip(s)["model"], None),
    "vificlip-no-wrapper": ("vificlip", lambda s: {"model": {k.removeprefix("module."): v for k, v in
                                                             official_vificlip(s)["model"].items()}}, None),
    "harness-state-dict": ("xclip", lambda s: dict(s), None),
    "mmengine-checkpoint": ("actionclip", lambda s: {"state_dict": dict(s), "meta": {"epoch": 3}}, None),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_format_variants(variant, models, tmp_path, capfd):
    method, make, halved = VARIANTS[variant]
    model = models[method]
    torch.save(make(model.state_dict()), tmp_path / "src.pt")
    line = convert(capfd, "--method", method, tmp_path / "src.pt", tmp_path / "dst.pth", "--bare")
    state = loaded(tmp_path / "dst.pth")
    fresh = build(method)
    fresh.load_state_dict(state, strict=True)
    if halved:  # an fp16 file: the weights are its fp16 values, in the model's fp32
        assert "fp16 → fp32" in line
        for name, tensor in model.state_dict().items():
            expected = tensor.half().float() if halved(name) else tensor
            assert state[name].dtype == tensor.dtype and torch.equal(state[name], expected), name
    else:
        assert torch.equal(forward(fresh), forward(model))
    if "module" in variant:
        assert "'module.' removed" in line
    if variant.startswith(("harness", "mmengine")):
        assert "format harness state dict" in line or "format mmengine checkpoint" in line


# --------------------------------------------------------------------------- one line, exit 2
def _save(tmp_path, obj, name="bad.pt"):
    torch.save(obj, tmp_path / name)
    return tmp_path / name


def test_unmapped_official_tensor(models, tmp_path, capfd):
    official = official_ezclip(models["ezclip"].state_dict())
    official["model_state_dict"]["visual.transformer.extra_gate"] = torch.ones(3)
    line = one_line_error(capfd, "convert", "--method", "ezclip", _save(tmp_path, official), tmp_path / "o.pth")
    assert "1 of its tensors map to no ezclip parameter (visual.transformer.extra_gate)" in line
    assert "nothing was loaded" in line and not (tmp_path / "o.pth").exists()


def test_unimplemented_official_module_is_named(models, tmp_path, capfd):
    official = official_ezclip(models["ezclip"].state_dict())
    official["model_state_dict"]["visual.transformer.resblocks.0.T_Adapter.D_fc1.weight"] = torch.ones(16, 64)
    line = one_line_error(capfd, "convert", "--method", "ezclip", _save(tmp_path, official), tmp_path / "o.pth")
    assert "T_Adapter" in line and "does not implement" in line


def test_missing_harness_parameter(models, tmp_path, capfd):
    official = official_xclip(models["xclip"].state_dict())
    del official["model"]["visual.proj"], official["model"]["mit.positional_embedding"]
    line = one_line_error(capfd, "convert", "--method", "xclip", _save(tmp_path, official), tmp_path / "o.pth")
    assert "2 xclip parameters are not in it (clip.visual.proj, mit.positional_embedding)" in line


def test_ezclip_prompts_of_another_frame_count(tmp_path, capfd):
    four = randomised("ezclip", frames=4)
    line = one_line_error(capfd, "convert", "--method", "ezclip",
                          _save(tmp_path, official_ezclip(four.state_dict())), tmp_path / "o.pth")
    assert "trained for 4 frames" in line and "--cfg-options model.frames=4" in line


def test_other_backbone_width(models, tmp_path, capfd):
    official = official_vificlip(models["vificlip"].state_dict())
    official["model"]["module.image_encoder.conv1.weight"] = torch.randn(96, 3, 8, 8)
    official["model"]["module.image_encoder.positional_embedding"] = torch.randn(17, 96)
    line = one_line_error(capfd, "convert", "--method", "vificlip", _save(tmp_path, official), tmp_path / "o.pth")
    assert "shapes differ" in line and "width 96, patch 8, 32 px" in line and "--backbone" in line


def test_unknown_format(tmp_path, capfd):
    line = one_line_error(capfd, "convert", "--method", "xclip", _save(tmp_path, {"weights": [1, 2], "note": "x"}),
                          tmp_path / "o.pth")
    assert "unknown format" in line and "'weights'" in line


def test_another_methods_checkpoint(models, tmp_path, capfd):
    path = _save(tmp_path, official_xclip(models["xclip"].state_dict()))
    line = one_line_error(capfd, "convert", "--method", "ezclip", path, tmp_path / "o.pth")
    assert "'model_state_dict'" in line and "looks like a checkpoint of xclip" in line


def test_vificlip_needs_the_backbone_it_was_fine_tuned_from(models, tmp_path, capfd):
    path = _save(tmp_path, official_vificlip(models["vificlip"].state_dict()))
    line = one_line_error(capfd, "convert", "--method", "vificlip", path, tmp_path / "o.pth", "--pretrained", "none")
    assert "clip.token_embedding.weight" in line and "--pretrained" in line


@pytest.mark.parametrize("source", ["https://github.com/nbl97/X-CLIP_Model_Zoo/releases/download/v1.0/zero.pth",
                                    "hf-hub:org/xclip", "nbl97/X-CLIP_Model_Zoo"])
def test_download_addresses_are_refused(source, tmp_path, capfd):
    line = one_line_error(capfd, "convert", "--method", "xclip", source, tmp_path / "o.pth")
    assert "never downloads" in line and "local path" in line
    line = one_line_error(capfd, "run", "--method", "xclip", "--protocol", "zero_shot", "--checkpoint", source)
    assert "never downloads" in line


def test_untrusted_classes_in_the_file_never_run(models, tmp_path):
    """X-CLIP / ViFi-CLIP pickle their config object; reading the file must not construct it."""
    from harness.models.checkpoints.reading import load_untrusted

    official = official_xclip(models["xclip"].state_dict())
    official["config"] = Exploding()
    obj = load_untrusted(_save(tmp_path, official))
    assert "not loaded" in repr(obj["config"]) and torch.equal(obj["model"]["visual.proj"], official["model"]["visual.proj"])


class Exploding:
    def __reduce__(self):
        return (pytest.fail, ("the checkpoint's pickle ran code",))


# --------------------------------------------------------------------------- run --checkpoint
def test_run_evaluates_an_official_file_directly_and_records_its_format(models, tmp_path, capfd, monkeypatch):
    """Official file on the fly and its converted DST give the same predictions; the record names the format, the
    file's sha256 and (for DST) the official file it came from."""
    import json

    from harness.engine.preflight import file_sha256

    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    official = _save(tmp_path, OFFICIAL["xclip"](models["xclip"].state_dict()), "xclip_official.pth")
    convert(capfd, "--method", "xclip", official, tmp_path / "converted.pth")
    outcomes = {}
    for name in ("xclip_official.pth", "converted.pth"):
        status = main(["run", "--method", "xclip", "--protocol", "few_shot", "--dataset", "toy-target-a", "--shots",
                       "2", "--checkpoint", str(tmp_path / name), "--records", str(tmp_path / "r" / name),
                       "--cfg-options", "eval.limit=3"])
        assert status == 0, capfd.readouterr().err
        record = json.loads(next((tmp_path / "r" / name).rglob("*.json")).read_text())
        outcomes[name] = record
    official_record, converted_record = outcomes["xclip_official.pth"], outcomes["converted.pth"]
    assert official_record["checkpoint"] == dict(path=str(official), sha256=file_sha256(official),
                                                 format="X-CLIP main.py checkpoint")
    assert converted_record["checkpoint"]["format"] == "mmengine checkpoint"
    assert converted_record["checkpoint"]["converted_from"]["sha256"] == file_sha256(official)
    assert official_record["config"]["backbone"]["quick_gelu"] is True  # OpenAI CLIP's activation
    predictions = [[p["pred"] for p in e["predictions"]] for r in (official_record, converted_record)
                   for e in r["evaluations"]]
    assert predictions[0] == predictions[1] and len(predictions[0]) == 3


# --------------------------------------------------------------------------- reproduce
def test_reproduce_on_real_clips_prints_measured_vs_published(models, tmp_path, capfd, shared_data):
    """EZ-CLIP's zero-shot release on its own UCF-101 split-1 files; the two UCF-101 clips of ../shared/data, under
    the file names the list uses (v_ApplyEyeMakeup_g01_c01, v_Archery_g01_c01), are all the videos there are."""
    import json

    videos = tmp_path / "ucf"
    videos.mkdir()
    (videos / "v_ApplyEyeMakeup_g01_c01.avi").symlink_to(shared_data / "mmaction2/tests/data/test.avi")
    (videos / "v_Archery_g01_c01.avi").symlink_to(shared_data / "paddlevideo/data/example.avi")
    checkpoint = _save(tmp_path, OFFICIAL["ezclip"](models["ezclip"].state_dict()), "ezclip_k400.pt")
    capfd.readouterr()
    status = main(["reproduce", "--method", "ezclip", "--dataset", "ucf101", "--protocol", "zero_shot",
                   "--checkpoint", str(checkpoint), "--backbone", "toy-vit", "--pretrained", "embedded",
                   "--data-root", str(videos), "--files-root", str(shared_data / "ez-clip"), "--allow-missing",
                   "--cfg-options", "data.max_failed_fraction=1", "--records", str(tmp_path / "records"),
                   "--work-dir", str(tmp_path / "work")])
    out, err = capfd.readouterr()
    assert status == 0, err
    assert "reproduction of EZ-CLIP ViT-B/16 8×224 trained on Kinetics-400 (zero-shot) on ucf101-ezclip" in out
    assert "8 frames, 1 clip × 1 crop, text: one GPT-3 description" in out
    assert "backbone toy-vit is not the release's ViT-B-16" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("top1:"))
    assert re.search(r"measured \d+\.\d % \(95 % CI \d+\.\d–\d+\.\d; 2 videos, 1 split\) \| published 79\.1 % "
                     r"\(`Shahzadnit/EZ-CLIP:README.md` \(no ±std\)\) \| Δ [-+]\d+\.\d points \| published inside "
                     r"the CI: (yes|no)$", line.strip()), line
    record = json.loads(next((tmp_path / "records").rglob("*.json")).read_text())
    assert record["reproduction"]["release"] == "ezclip-zs-k400"
    assert record["reproduction"]["published"] == dict(module="harness.reports.published", method="ezclip",
                                                       protocol="zero_shot", dataset="ucf101")
    assert record["config"]["model"]["frames"] == 8 and record["config"]["model"]["text"]["source"] == "descriptions"
    assert record["checkpoint"]["format"] == "EZ-CLIP train.py checkpoint"
    assert "79.1" not in json.dumps(record["evaluations"])  # published numbers stay out of the measured record


def test_measured_intervals_and_the_published_comparison():
    """The comparison arithmetic on hand-made records: a zero-shot mean over splits, base-to-novel HM."""
    from harness.models.checkpoints.releases import RELEASES
    from harness.engine.reproduce import comparison_lines, measure

    def evaluation(name, correct):
        return {"name": name, "predictions": [{"pred": 1, "label": 1 if c else 0} for c in correct]}

    zero = [{"evaluations": [evaluation("hmdb51/test1", [1] * 40 + [0] * 60),
                             evaluation("hmdb51/test2", [1] * 60 + [0] * 40)]}]
    result = measure(zero, "zero_shot")["top1"]
    assert result["value"] == pytest.approx(50.0) and result["low"] < 50 < result["high"] and result["groups"] == 2
    release = next(r for r in RELEASES if r.key == "vificlip-zs-k400")
    line = comparison_lines(release, "hmdb51", zero)[0]
    assert "published 51.3 %" in line and "Δ -1.3 points" in line and "published inside the CI: yes" in line
    b2n = [{"evaluations": [evaluation("base", [1] * 90 + [0] * 10), evaluation("novel", [1] * 50 + [0] * 50)]}]
    measured = measure(b2n, "base2novel")
    assert measured["hm"]["value"] == pytest.approx(100 * 2 * 0.9 * 0.5 / 1.4)
    release = next(r for r in RELEASES if r.key == "ezclip-b2n-hmdb51")
    lines = comparison_lines(release, "hmdb51-ezclip", b2n)
    assert [line.split(":")[0].strip() for line in lines] == ["base", "novel", "hm"]
    assert "published 77.0 %" in lines[0] and "published 58.2 %" in lines[1] and "published 66.3 %" in lines[2]


def test_every_release_names_its_host_and_a_reproducible_setting():
    from harness.data.catalog import list_datasets
    from harness.reports.published import published
    from harness.models.checkpoints.releases import PUBLISHED_KEY, RELEASES

    datasets = set(list_datasets())
    for release in RELEASES:
        assert release.url and release.host and release.readme, release.key
        method_class(release.method)
        for definition in release.datasets.values():
            assert definition in datasets, (release.key, definition)
            key = PUBLISHED_KEY[definition.split("-")[0]]
            assert any(r["method"] == release.published_method and r["dataset"] == key
                       for r in published(release.protocol)), (release.key, definition)


def test_tables_keep_released_checkpoints_in_a_row_of_their_own():
    """An evaluation of a released checkpoint must not supersede (or be superseded by) the user's own run of the
    same unit in the tables: it is the row 'M (released)'."""
    from harness.reports.loading import table_method

    assert table_method({"method": "ezclip", "checkpoint": None}) == "ezclip"
    assert table_method({"method": "ezclip", "checkpoint": {"format": "harness state dict"}}) == "ezclip"
    assert table_method({"method": "ezclip", "checkpoint": {"format": "EZ-CLIP train.py checkpoint"}}) == \
        "ezclip (released)"
    assert table_method({"method": "xclip", "checkpoint": {"format": "mmengine checkpoint",
                                                           "converted_from": {"sha256": "ab"}}}) == "xclip (released)"
    assert table_method({"method": "xclip", "checkpoint": None, "reproduction": {"release": "x"}}) == "xclip (released)"


def test_readme_lists_every_release_with_a_command_that_resolves_to_it():
    """README's released-checkpoint table is harness.models.checkpoints.releases.readme_table() verbatim, and each
    command in it parses and picks exactly the release of its row (no 'say which with --protocol' for a documented
    command)."""
    import shlex

    from conftest import REPO

    from harness.cli import build_parser
    from harness.models.checkpoints.releases import choose_release, readme_table

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- releases:begin[^\n]*-->\n(.*?)\n<!-- releases:end -->", readme, re.S).group(1)
    assert block == readme_table()
    commands = re.findall(r"`(python -m harness reproduce [^`]+)`", block)
    assert len(commands) == 41
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[3:])
        release = choose_release(args.method, args.dataset, args.protocol, args.shots, args.seed, args.backbone)
        assert release.protocol == args.protocol and (len(args.checkpoint) > 1) == bool(release.seed), command
