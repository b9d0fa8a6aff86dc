"""Every command, every flag that takes a path or a name, given a wrong value: exit status 2, exactly one
line on stderr that starts with ``error:`` and names the problem, no traceback (issue 17).

Calls ``harness.cli.main`` in-process (a subprocess costs ~15 s of imports on the project's 2-core machine);
stdout and stderr are captured at the file-descriptor level, so native decoder chatter would count too.
"""
from __future__ import annotations

import importlib.util
import time

import pytest
import torch

from harness.cli import main

COMMANDS = ["run", "list", "tables", "compare", "profile", "audit", "prepare", "sweep", "bench", "convert",
            "reproduce", "tune", "analyze"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Named bad (and a few good) inputs; each case's argv refers to them as {name}."""
    root = tmp_path_factory.mktemp("bad_inputs")
    (root / "videos").mkdir()
    (root / "folder").mkdir()
    (root / "binary.bin").write_bytes(b"\x00\x01\x02garbage\xff\xfe" * 50)
    (root / "text.pt").write_text("this is not a checkpoint\n")
    (root / "bad.json").write_text("{not json")
    (root / "classes.txt").write_text("jump\nrun\n")
    (root / "empty.txt").write_text("")
    (root / "list.txt").write_text("x.mp4 0\ny.mp4 1\n")
    (root / "bad_label.txt").write_text("x.mp4 0\ny.mp4 7\n")
    (root / "bad_fields.txt").write_text("x.mp4 zero\n")
    (root / "bad.yaml").write_text("name: [unclosed\n")
    (root / "list.yaml").write_text("- just\n- a list\n")
    (root / "definition.txt").write_text("name: toy\n")
    torch.save({"not_a_parameter_of_any_method": torch.zeros(2)}, root / "foreign_state.pth")
    names = {p.stem if p.is_dir() else p.name.replace(".", "_"): str(p) for p in root.iterdir()}
    names.update(absent=str(root / "absent"), absent_pt=str(root / "absent.pt"), tmp=str(root))
    return names


@pytest.fixture(scope="module", autouse=True)
def _warm_caches():
    """The first command on a fresh machine also prints one-time generation lines (embedded benchmark, toy CLIP);
    they are made here so every case sees only its own error, whichever test ran first."""
    from harness.data.embedded import ensure_embedded
    from harness.models.toyclip import ensure_toy_clip

    ensure_embedded()
    ensure_toy_clip()


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """No case may write into the checkout's records/, results/ or work_dirs/."""
    monkeypatch.setenv("HARNESS_RECORDS", str(tmp_path / "records"))
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work_dirs"))


def one_line_error(argv, capfd) -> str:
    capfd.readouterr()
    try:
        status = main(list(argv))
    except SystemExit as exit_:  # argparse: must not happen any more, but report it as a failure, not a crash
        status = ("SystemExit", exit_.code)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (status, err)
    return lines[0]


_NEEDS_TRANSFORMERS = importlib.util.find_spec("transformers") is None
_C = "run --method clip --protocol zero_shot --dataset custom"
CUSTOM = f"{_C} --data-root {{videos}} --ann-file {{list_txt}} --classes {{classes_txt}}"

# (argv with {file} placeholders, substrings the one line must contain)
CASES = {
    # ------------------------------------------------------------------------------------------- list
    "list/what": ("list nosuch", ["invalid choice: 'nosuch'", "backbones"]),
    # ------------------------------------------------------------------------------------------ analyze
    "analyze/what": ("analyze nosuch", ["invalid choice: 'nosuch'", "temporal"]),
    "analyze/none": ("analyze", ["temporal", "attention", "--help"]),
    "analyze/method": ("analyze temporal --method nosuch --protocol base2novel --dataset toy-temporal "
                       "--records {folder}", ["method 'nosuch'", "{folder}"]),
    "analyze/records-absent": ("analyze motion --method clip --protocol base2novel --dataset toy-temporal "
                               "--records {absent}", ["{absent}", "does not exist"]),
    "analyze/records-malformed": ("analyze all --records {tmp}", ["malformed JSON", "{bad_json}"]),
    "analyze/seed-text": ("analyze attention --method ezclip --protocol base2novel --dataset toy-temporal --seed one",
                          ["--seed", "'one'"]),
    # ------------------------------------------------------------------------------------------- tables
    "tables/records-absent": ("tables --records {absent}", ["{absent}", "does not exist"]),
    "tables/records-a-file": ("tables --records {binary_bin}", ["{binary_bin}"]),
    # ------------------------------------------------------------------------------------------ compare
    "compare/run-id-no-records": ("compare nosuch1 nosuch2 --records {absent}", ["nosuch1", "{absent}"]),
    "compare/malformed-json": ("compare {bad_json} {bad_json}", ["malformed JSON", "{bad_json}"]),
    "compare/binary-file": ("compare {binary_bin} {binary_bin}", ["{binary_bin}"]),
    "compare/records-a-file": ("compare nosuch1 nosuch2 --records {binary_bin}", ["{binary_bin}"]),
    # ------------------------------------------------------------------------------------------ profile
    "profile/method": ("profile --method nosuch", ["unknown method 'nosuch'", "ezclip"]),
    "profile/backbone": ("profile --method clip --backbone ViT-B16", ["'ViT-B16'", "ViT-B-16"]),
    "profile/frames-zero": ("profile --method clip --frames 0", ["--frames", "≥ 1"]),
    "profile/frames-text": ("profile --method clip --frames abc", ["--frames", "'abc'"]),
    "profile/pretrained-absent": ("profile --method clip --backbone toy-vit --pretrained {absent_pt}",
                                  ["{absent_pt}", "does not exist"]),
    "profile/pretrained-not-a-checkpoint": ("profile --method clip --backbone toy-vit --pretrained {text_pt}",
                                            ["{text_pt}", "checkpoint"]),
    "profile/pretrained-folder": ("profile --method clip --backbone toy-vit --pretrained {folder}",
                                  ["{folder}", "folder"]),
    "profile/pretrained-tag": ("profile --method clip --backbone ViT-B-32 --pretrained laion2b_s34b_b79x",
                               ["unknown pretrained tag", "laion2b_s34b_b79k"]),
    "profile/backbone-hf-text-tower": pytest.param(
        "profile --method clip --backbone coca_roberta-ViT-B-32", ["coca_roberta-ViT-B-32", "pip install transformers"],
        marks=pytest.mark.skipif(not _NEEDS_TRANSFORMERS, reason="transformers is installed here")),
    "profile/backbone-hf-tokenizer": pytest.param(
        "profile --method clip --backbone ViT-B-16-SigLIP", ["ViT-B-16-SigLIP", "pip install transformers"],
        marks=pytest.mark.skipif(not _NEEDS_TRANSFORMERS, reason="transformers is installed here")),
    # -------------------------------------------------------------------------------------------- audit
    "audit/protocol": ("audit --protocol nosuch --dataset hmdb51", ["unknown protocol 'nosuch'", "base2novel"]),
    "audit/dataset": ("audit --dataset nosuch", ["unknown dataset 'nosuch'", "hmdb51"]),
    "audit/dataset-not-yaml": ("audit --dataset {definition_txt}", ["{definition_txt}", ".yaml"]),
    "audit/dataset-bad-yaml": ("audit --dataset {bad_yaml}", ["{bad_yaml}", "invalid YAML"]),
    "audit/dataset-yaml-not-mapping": ("audit --dataset {list_yaml}", ["{list_yaml}", "mapping"]),
    "audit/files-root-absent": ("audit --dataset hmdb51 --files-root {absent}", ["--files-root {absent}"]),
    "audit/files-root-empty": ("audit --protocol base2novel --dataset hmdb51 --files-root {folder}",
                               ["checked nothing", "{folder}", "--files-root"]),
    "audit/no-files-root": ("audit --protocol base2novel --dataset hmdb51",
                            ["checked nothing", "no --files-root given", "hmdb_51_labels.csv"]),
    "audit/source-dataset": ("audit --protocol zero_shot --dataset hmdb51 --files-root {folder} "
                             "--source-dataset nosuch", ["unknown dataset 'nosuch'"]),
    "audit/source-files-root": ("audit --dataset hmdb51 --source-files-root {absent}",
                                ["--source-files-root {absent}"]),
    # ------------------------------------------------------------------------------------------ prepare
    "prepare/dataset": ("prepare --dataset nosuch --root {videos}", ["unknown dataset 'nosuch'"]),
    "prepare/root-absent": ("prepare --dataset hmdb51 --root {absent}", ["{absent}", "--root"]),
    "prepare/files-root-absent": ("prepare --dataset hmdb51 --root {videos} --files-root {absent}",
                                  ["--files-root {absent}"]),
    "prepare/protocol": ("prepare --dataset hmdb51 --root {videos} --protocol nosuch", ["unknown protocol"]),
    "prepare/dataset-not-yaml": ("prepare --dataset {definition_txt} --root {videos}", [".yaml"]),
    # -------------------------------------------------------------------------------------------- sweep
    "sweep/methods": ("sweep --methods nosuch", ["unknown method 'nosuch'"]),
    "tune/grid": ("tune --method ezclip --protocol few_shot --grid train.epochs", ["--grid", "KEY=V1,V2"]),
    "tune/fraction": ("tune --method ezclip --protocol few_shot --grid train.epochs=1 --val-fraction 1.5",
                      ["--val-fraction must be in (0, 1)"]),
    "run/validation-only": ("run --method ezclip --protocol few_shot --cfg-options runtime.validation_only=true",
                            ["needs runtime.val_fraction > 0"]),
    "sweep/protocols": ("sweep --protocols nosuch", ["unknown protocol 'nosuch'"]),
    "sweep/datasets": ("sweep --datasets nosuch", ["unknown dataset 'nosuch'"]),
    "sweep/backbone": ("sweep --backbone ViT-B16", ["ViT-B-16"]),
    "sweep/cfg-options": ("sweep --cfg-options nonsense", ["'nonsense'", "key"]),
    "sweep/seeds": ("sweep --seeds one", ["--seeds", "'one'"]),
    # -------------------------------------------------------------------------------------------- bench
    "bench/methods": ("bench --methods nosuch", ["unknown method 'nosuch'"]),
    "bench/backbone": ("bench --backbone ViT-B16", ["ViT-B-16"]),
    "bench/device": ("bench --device nosuch", ["--device 'nosuch'", "cpu"]),
    "bench/videos-absent": ("bench --videos {absent}/*.mp4", ["--videos", "{absent}"]),
    "bench/videos-not-videos": ("bench --videos {binary_bin} {text_pt}", ["--videos", "decoded"]),
    "bench/frames": ("bench --frames 0", ["--frames", "≥ 1"]),
    "bench/clips": ("bench --clips -2", ["--clips"]),
    "bench/repeats": ("bench --repeats x", ["--repeats", "'x'"]),
    "bench/min-seconds": ("bench --min-seconds -1", ["--min-seconds", "≥ 0"]),
    "bench/output": ("bench --output {absent}/bench.json", ["--output", "{absent}", "does not exist"]),
    "bench/skip": ("bench --skip nosuch", ["invalid choice: 'nosuch'"]),
    # ------------------------------------------------------------------------------------------ convert
    "convert/method": ("convert --method nosuch {foreign_state_pth} {tmp}/o.pth", ["unknown method 'nosuch'"]),
    "convert/src-absent": ("convert --method xclip {absent_pt} {tmp}/o.pth", ["{absent_pt}", "not found"]),
    "convert/src-text": ("convert --method xclip {text_pt} {tmp}/o.pth", ["{text_pt}", "not a readable PyTorch"]),
    "convert/src-binary": ("convert --method xclip {binary_bin} {tmp}/o.pth", ["{binary_bin}", "not a readable"]),
    "convert/src-folder": ("convert --method xclip {folder} {tmp}/o.pth", ["{folder}", "is a folder"]),
    "convert/src-url": ("convert --method xclip https://example.org/zero.pth {tmp}/o.pth",
                        ["'https://example.org/zero.pth'", "never downloads", "local path"]),
    "convert/src-hub-name": ("convert --method xclip nbl97/X-CLIP_Model_Zoo {tmp}/o.pth", ["never downloads"]),
    "convert/src-foreign": ("convert --method xclip {foreign_state_pth} {tmp}/o.pth",
                            ["does not match xclip", "not_a_parameter_of_any_method", "nothing was loaded"]),
    "convert/dst-folder-absent": ("convert --method xclip {foreign_state_pth} {absent}/o.pth",
                                  ["{absent}", "does not exist"]),
    "convert/dst-exists": ("convert --method xclip {foreign_state_pth} {text_pt}", ["{text_pt}", "--force"]),
    "convert/dst-is-folder": ("convert --method xclip {foreign_state_pth} {folder}", ["{folder}", "is a folder"]),
    "convert/to": ("convert --method xclip --to nosuch {foreign_state_pth} {tmp}/o.pth", ["invalid choice: 'nosuch'"]),
    "convert/backbone": ("convert --method xclip --backbone ViT-B16 {foreign_state_pth} {tmp}/o.pth",
                         ["'ViT-B16'", "ViT-B-16"]),
    "convert/cfg-wrong-type": ("convert --method xclip {foreign_state_pth} {tmp}/o.pth --cfg-options model.frames=x",
                               ["model.frames", "int"]),
    # ---------------------------------------------------------------------------------------- reproduce
    "reproduce/method": ("reproduce --method nosuch --dataset hmdb51 --checkpoint {foreign_state_pth}",
                         ["unknown method 'nosuch'"]),
    "reproduce/no-release": ("reproduce --method clip --dataset hmdb51 --checkpoint {foreign_state_pth}",
                             ["no released clip checkpoint", "README"]),
    "reproduce/dataset-without-release": ("reproduce --method xclip --dataset ssv2 --checkpoint {foreign_state_pth}",
                                          ["no released xclip checkpoint", "'ssv2'", "few_shot: hmdb51, ucf101"]),
    "reproduce/which-protocol": ("reproduce --method ezclip --dataset hmdb51 --checkpoint {foreign_state_pth}",
                                 ["base2novel and zero_shot", "--protocol"]),
    "reproduce/which-shots": ("reproduce --method xclip --dataset hmdb51 --protocol few_shot --checkpoint "
                              "{foreign_state_pth}", ["K = 2, 4, 8, 16", "--shots"]),
    "reproduce/shots-unknown": ("reproduce --method xclip --dataset hmdb51 --shots 3 --checkpoint {foreign_state_pth}",
                                ["K=3"]),
    "reproduce/shots-zero": ("reproduce --method xclip --dataset hmdb51 --shots 0 --checkpoint {foreign_state_pth}",
                             ["--shots", "≥ 1"]),
    "reproduce/protocol": ("reproduce --method xclip --dataset hmdb51 --protocol nosuch --checkpoint "
                           "{foreign_state_pth}", ["no released xclip checkpoint", "nosuch"]),
    "reproduce/checkpoint-absent": ("reproduce --method xclip --dataset hmdb51 --protocol zero_shot --checkpoint "
                                    "{absent_pt}", ["{absent_pt}", "not found"]),
    "reproduce/checkpoint-url": ("reproduce --method xclip --dataset hmdb51 --protocol zero_shot --checkpoint "
                                 "https://github.com/nbl97/X-CLIP_Model_Zoo/releases/download/v1.0/zero.pth",
                                 ["never downloads"]),
    "reproduce/several-checkpoints": ("reproduce --method xclip --dataset hmdb51 --protocol zero_shot --checkpoint "
                                      "{foreign_state_pth} --checkpoint {foreign_state_pth}",
                                      ["several --checkpoint", "base2novel"]),
    "reproduce/files-root-absent": ("reproduce --method xclip --dataset hmdb51 --protocol zero_shot --checkpoint "
                                    "{foreign_state_pth} --files-root {absent}", ["--files-root {absent}"]),
    # ---------------------------------------------------------------------------------------------- run
    "run/method": ("run --method nosuch --protocol zero_shot", ["unknown method 'nosuch'", "ezclip"]),
    "run/protocol": ("run --method clip --protocol base2nvel", ["base2novel"]),
    "run/dataset": ("run --method clip --protocol zero_shot --dataset hmdb-51", ["hmdb51"]),
    "run/source": ("run --method clip --protocol zero_shot --source nosuch", ["unknown dataset 'nosuch'"]),
    "run/dataset-not-yaml": ("run --method clip --protocol zero_shot --dataset {definition_txt}", [".yaml"]),
    "run/backbone": ("run --method clip --protocol zero_shot --backbone ViT-B16", ["'ViT-B16'", "ViT-B-16"]),
    "run/pretrained-absent": ("run --method clip --protocol zero_shot --backbone ViT-B-16 --pretrained {absent_pt}",
                              ["{absent_pt}"]),
    "run/launcher": ("run --method clip --protocol zero_shot --launcher mpi", ["--launcher", "'mpi'"]),
    "run/seed": ("run --method clip --protocol base2novel --seed first", ["--seed", "'first'"]),
    "run/seed-unknown": ("run --method clip --protocol base2novel --seed 9", ["seed 9", "1, 2, 3"]),
    "run/shots-unknown": ("run --method clip --protocol few_shot --shots 3", ["3-shot", "16"]),
    "run/cfg-malformed": ("run --method clip --protocol zero_shot --cfg-options nonsense", ["'nonsense'"]),
    "run/cfg-unknown-key": ("run --method ezclip --protocol base2novel --cfg-options train.lr=0.1", ["train.lr"]),
    "run/cfg-wrong-type": ("run --method clip --protocol zero_shot --cfg-options train.epochs=abc",
                           ["train.epochs", "int"]),
    "run/checkpoint-absent": ("run --method clip --protocol zero_shot --checkpoint {absent_pt}", ["{absent_pt}"]),
    "run/checkpoint-text": ("run --method clip --protocol zero_shot --checkpoint {text_pt}",
                            ["{text_pt}", "checkpoint"]),
    "run/checkpoint-binary": ("run --method clip --protocol zero_shot --checkpoint {binary_bin}",
                              ["{binary_bin}", "checkpoint"]),
    "run/files-root-missing": ("run --method clip --protocol zero_shot --dataset hmdb51 --data-root {videos}",
                               ["--files-root", "ViFi-CLIP"]),
    "run/files-root-absent": ("run --method clip --protocol zero_shot --dataset hmdb51 --data-root {videos} "
                              "--files-root {absent}", ["--files-root {absent}"]),
    "run/custom-without-classes": (f"{_C} --data-root {{videos}} --ann-file {{list_txt}}",
                                   ["--classes", "--data-root"]),
    "run/ann-file-absent": (f"{_C} --data-root {{videos}} --ann-file {{absent}} --classes {{classes_txt}}",
                            ["--ann-file {absent}"]),
    "run/ann-file-binary": (f"{_C} --data-root {{videos}} --ann-file {{binary_bin}} --classes {{classes_txt}}",
                            ["{binary_bin}", "binary data (NUL byte)"]),
    "run/ann-file-malformed": (f"{_C} --data-root {{videos}} --ann-file {{bad_fields_txt}} --classes {{classes_txt}}",
                               ["{bad_fields_txt}:1", "label"]),
    "run/ann-file-label-range": (f"{_C} --data-root {{videos}} --ann-file {{bad_label_txt}} "
                                 "--classes {classes_txt}", ["{bad_label_txt}:2", "out of range"]),
    "run/classes-absent": (f"{_C} --data-root {{videos}} --ann-file {{list_txt}} --classes {{absent}}",
                           ["--classes {absent}"]),
    "run/classes-binary": (f"{_C} --data-root {{videos}} --ann-file {{list_txt}} --classes {{binary_bin}}",
                           ["{binary_bin}", "binary data (NUL byte)"]),
    "run/classes-empty": (f"{_C} --data-root {{videos}} --ann-file {{list_txt}} --classes {{empty_txt}}",
                          ["{empty_txt}", "empty"]),
    "run/data-root-absent": (f"{_C} --data-root {{absent}} --ann-file {{list_txt}} --classes {{classes_txt}}",
                             ["--data-root {absent}"]),
    "run/videos-missing": (CUSTOM, ["2 of 2 videos", "--allow-missing"]),
}


@pytest.mark.parametrize("argv,needles", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_exit_2(argv, needles, files, capfd):
    line = one_line_error(argv.format(**files).split(), capfd)
    for needle in needles:
        assert needle.format(**files) in line, line


def test_every_command_has_bad_input_cases():
    """A command added to the CLI without cases here fails this test."""
    from harness.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert sorted(sub.choices) == sorted(COMMANDS)
    assert {key.split("/")[0] for key in CASES} == set(COMMANDS)


def test_run_checkpoint_of_another_method(files, capfd):
    """A state dict whose keys are not the method's: refused up front (runner.py), naming the flags to match."""
    line = one_line_error(["run", "--method", "ezclip", "--protocol", "zero_shot", "--checkpoint",
                           files["foreign_state_pth"]], capfd)
    assert files["foreign_state_pth"] in line and "does not match" in line and "--method" in line


def test_tables_unknown_reference_lists_the_methods(tmp_path, capfd):
    """``--reference NOSUCH`` used to warn and carry on; it must be one line listing the methods present."""
    from fake_records import write_suite

    write_suite(tmp_path / "records")
    line = one_line_error(["tables", "--records", str(tmp_path / "records"), "--results", str(tmp_path / "out"),
                           "--reference", "NOSUCH"], capfd)
    assert "NOSUCH" in line
    for method in ("ezclip", "vificlip", "clip"):
        assert method in line


# ------------------------------------------------------------------------ open_clip hub tags without network


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))  # open_clip's URL downloads cache under ~/.cache/clip
    return tmp_path / "hub"


def _offline():
    from harness.models.backbones import _hub_reachable

    if _hub_reachable("https://huggingface.co"):
        pytest.skip("huggingface.co is reachable here: a hub tag would really download")


@pytest.mark.parametrize("backbone,tag", [("ViT-B-16", "openai"), ("ViT-B-32", "laion2b_s34b_b79k")])
def test_hub_tag_offline_fails_fast_in_one_line(backbone, tag, empty_hub_cache, files, capfd):
    """Used to take ~1 min and print ~45 lines of huggingface-hub retry warnings before the one line."""
    _offline()
    from harness.models.backbones import check_backbone

    check_backbone(backbone)  # imports open_clip: start-up cost, not the hub's
    started = time.perf_counter()
    line = one_line_error(["profile", "--method", "clip", "--backbone", backbone, "--pretrained", tag], capfd)
    assert time.perf_counter() - started < 15
    assert f"{backbone}/{tag}" in line and "cannot be reached" in line and "--pretrained /path/to/checkpoint" in line


def test_hub_tag_in_the_local_cache_loads_without_any_request(empty_hub_cache, monkeypatch, capfd):
    """Weights already in the hub cache are used offline; here a corrupt cached file, so the one line names it."""
    from harness.models import backbones

    snapshot = empty_hub_cache / "models--timm--vit_base_patch16_clip_224.openai" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"not safetensors")
    refs = empty_hub_cache / "models--timm--vit_base_patch16_clip_224.openai" / "refs"
    refs.mkdir()
    (refs / "main").write_text("0" * 40)
    monkeypatch.setattr(backbones, "_hub_reachable", lambda url: pytest.fail("the hub was probed"))
    started = time.perf_counter()
    line = one_line_error(["profile", "--method", "clip", "--backbone", "ViT-B-16", "--pretrained", "openai"], capfd)
    assert time.perf_counter() - started < 60  # builds ViT-B-16 once; no network wait
    assert "cached weights of ViT-B-16/openai" in line and "open_clip_model.safetensors" in line


def test_list_separates_backbones_whose_packages_are_missing(capfd):
    """Every backbone `list` offers as usable passes the check; every other one is refused naming its install."""
    from harness.models.backbones import check_backbone
    from harness.errors import HarnessError

    assert main(["list", "backbones"]) == 0
    lines = capfd.readouterr().out.splitlines()
    usable = lines[1].split()
    assert "ViT-B-16" in usable and "toy-vit" in usable
    for name in usable:
        check_backbone(name)
    for line in lines[2:]:
        install, names = line.split(":", 1)
        package = install.strip().removeprefix("need `pip install ").removesuffix("`")
        for name in names.split():
            with pytest.raises(HarnessError, match=f"pip install {package}"):
                check_backbone(name)
    if _NEEDS_TRANSFORMERS:
        assert any("coca_roberta-ViT-B-32" in line for line in lines[2:])
