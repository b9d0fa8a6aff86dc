"""The audit (harness.data.audit): class overlap, label/name mismatches, duplicates; on synthetic and real files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.data import audit
from harness.data.audit import AuditReport, audit_dataset, audit_protocol
from harness.data.class_names import class_from_path, class_overlap, compare_names
from harness.data.catalog import load_dataset
from harness.data.formats import read_class_names
from harness.errors import HarnessError
from harness.paths import shared_data_dir

SHARED = shared_data_dir()


def needs_shared(fn):
    fn = pytest.mark.shared_data(fn)
    return pytest.mark.skipif(SHARED is None, reason="../shared/data is absent")(fn)


# ------------------------------------------------------------------------------------------ name matching


@pytest.mark.parametrize(
    "a,b,level",
    [
        ("situp", "situp", "exact"),
        ("passing american football (not in game)", "passing American football (not in game)", "normalised"),
        ("dyeing hair", "dying hair", "normalised"),
        ("making the bed", "making bed", "normalised"),
        ("changing wheel (not on bike)", "changing wheel", "normalised"),
        ("ApplyEyeMakeup", "apply eye makeup", "normalised"),
        ("brush_hair", "brushing hair", "normalised"),
        ("Shotput", "shot put", "normalised"),
        ("tying necktie", "tying tie", "near"),
        ("person collecting garbage", "garbage collecting", "near"),
        ("waking up", "baby waking up", "near"),
    ],
)
def test_compare_names_matches(a, b, level):
    assert compare_names(a, b)[0] == level
    assert compare_names(b, a)[0] == level


@pytest.mark.parametrize(
    "a,b",
    [("luge", "lunge"), ("playing lute", "playing flute"), ("tackling", "tickling"), ("curling (sport)", "hurling (sport)"),
     ("huddling", "hurdling"), ("sit", "situp"), ("kick", "kick ball"), ("sword", "sword exercise"), ("abseiling", "archery")],
)
def test_compare_names_distinct(a, b):
    assert compare_names(a, b) is None


def test_class_overlap_best_level():
    out = class_overlap(["hugging", "hugging baby", "making bed"], ["hugging (not baby)", "playing ocarina"])
    assert out == [{"target": "hugging (not baby)", "level": "normalised", "rule": "normalised", "source": ["hugging"]}]


def test_class_from_path():
    hmdb = ["draw sword", "sword", "sword exercise", "kick", "kick ball", "brush hair"]
    assert class_from_path("Pirates_6_sword_f_cm_np2_ba_med_6.avi", hmdb, "hmdb") == "sword"
    assert class_from_path("Pirates_draw_sword_f_cm_np2_ba_med_6.avi", hmdb, "hmdb") == "draw sword"
    assert class_from_path("x_sword_exercise_u_nm_np1_fr_goo_0.avi", hmdb, "hmdb") == "sword exercise"
    assert class_from_path("#20_kick_ball_u_nm_np1_fr_goo_0", hmdb, "hmdb") == "kick ball"  # no extension (EZ-CLIP)
    assert class_from_path("no_flags_kick.avi", hmdb, "hmdb") is None
    ucf = ["HandstandPushups", "ApplyEyeMakeup"]
    assert class_from_path("v_HandStandPushups_g01_c01.avi", ucf, "ucf") == "HandstandPushups"
    assert class_from_path("v_ApplyEyeMakeup_g01_c01", ucf, "auto") == "ApplyEyeMakeup"
    k400 = ["ice skating", "abseiling"]
    assert class_from_path("ice_skating/99elfyHn6wo", k400, "folder") == "ice skating"
    assert class_from_path("val/99elfyHn6wo.mp4", k400, "auto") is None
    assert class_from_path("ice_skating/x.mp4", k400, "none") is None


# ------------------------------------------------------------------------------------ synthetic datasets

CLASSES = ["brush hair", "kick", "kick ball", "sword", "sword exercise", "wave"]


def video(c, i):
    return f"T_{i}_{c.replace(' ', '_')}_u_cm_np1_fr_med_{i}.avi"


def build(root: Path, *, swap=False, leak=False, twice=False) -> Path:
    (root / "l").mkdir(parents=True, exist_ok=True)
    (root / "l" / "all.csv").write_text("id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(CLASSES)))
    (root / "l" / "src.csv").write_text("id,name\n0,kicking\n1,waving hand\n2,swimming\n")
    ids = {c: i for i, c in enumerate(CLASSES)}
    if swap:
        ids["kick"], ids["kick ball"] = ids["kick ball"], ids["kick"]
    test = [(video(c, j), ids[c]) for c in CLASSES for j in range(3)]
    train = [(video(c, 10 + j), ids[c]) for c in CLASSES for j in range(2)]
    if leak:
        train[0] = test[0]
    if twice:
        test.append(test[1])
    (root / "test.txt").write_text("".join(f"{p} {l}\n" for p, l in test))
    (root / "fs2.txt").write_text("".join(f"{p} {l}\n" for p, l in train))
    (root / "src.txt").write_text("a.mp4 0\nb.mp4 1\n")
    (root / "src.yaml").write_text(
        "name: src\nkind: real\nclasses: {path: l/src.csv}\nsplits: {train: {path: src.txt}}\n"
        "protocols: {zero_shot: {role: source, train: train}}\n"
    )
    (root / "tgt.yaml").write_text(
        "name: tgt\nkind: real\npath_class: hmdb\nclasses: {path: l/all.csv}\n"
        "splits: {test1: {path: test.txt}, fs2: {path: fs2.txt}}\n"
        f"protocols: {{zero_shot: {{role: target, eval: [test1], source: {root / 'src.yaml'}, exclusive: true}},\n"
        "            few_shot: {train: {2: fs2}, eval: test1}}\n"
    )
    return root / "tgt.yaml"


def test_clean_synthetic_dataset(tmp_path):
    defn = load_dataset(str(build(tmp_path)), files_root=tmp_path)
    report = audit_dataset(defn)
    assert report.select("label_mismatch") == [] and report.select("duplicate_video") == []
    assert report.summary["label_mismatch"]["tgt/test1"]["checked"] == 18
    # exclusive target: 'kick' ~ 'kicking' and 'wave' ~ 'waving hand'? only the first is a normalised match
    overlap = report.select("class_overlap", severity="error")
    assert len(overlap) == 1 and overlap[0].details["matches"][0]["target"] == "kick"
    assert report.summary["class_overlap"]["tgt"]["normalised"] == 1
    assert report.exit_code == 1


def test_swap_is_flagged(tmp_path):
    defn = load_dataset(str(build(tmp_path, swap=True)), files_root=tmp_path)
    report = audit_dataset(defn, protocol="few_shot")
    errors = report.select("label_mismatch", severity="error")
    assert len(errors) == 2  # test1 (the few-shot eval list) and fs2
    found = next(f.details for f in errors if f.details["split"] == "test1")
    assert found["mismatched"] == 6 and found["swapped"] == [["kick", "kick ball"]]
    assert {(p["path_class"], p["label_name"]) for p in found["pairs"]} == {("kick", "kick ball"), ("kick ball", "kick")}
    assert next(f.details for f in errors if f.details["split"] == "fs2")["mismatched"] == 4
    assert "\n" not in errors[0].message and "kick <-> kick ball" in errors[0].message


def test_train_test_duplicates(tmp_path):
    defn = load_dataset(str(build(tmp_path, leak=True, twice=True)), files_root=tmp_path)
    report = audit_dataset(defn, protocol="few_shot")
    leaks = report.select("duplicate_video", severity="error")
    assert len(leaks) == 1 and leaks[0].details["count"] == 1
    assert report.summary["duplicates"]["tgt few_shot 2-shot"] == 1
    twice = report.select("duplicate_video", severity="warning")
    assert len(twice) == 1 and twice[0].details["split"] == "test1"


def test_audit_protocol_uses_source_among_datasets(tmp_path):
    yaml_path = build(tmp_path)
    target = load_dataset(str(yaml_path), files_root=tmp_path)
    source = load_dataset(str(tmp_path / "src.yaml"), files_root=tmp_path)
    report = audit_protocol("zero-shot", [source, target])
    assert report.summary["class_overlap"]["tgt"]["source"] == "src"
    assert report.summary["duplicates"]["zero_shot src -> tgt"] == 0
    data = json.loads(json.dumps(report.to_dict()))
    assert data["counts"]["error"] == 1 and data["exit_code"] == 1
    text = report.to_text()
    assert text.startswith("Audit: protocol zero_shot") and "Summary: 1 error(s)" in text


def test_report_clean_exit_code():
    report = AuditReport("x")
    report.add("shots", "info", "d", "fine")
    assert report.exit_code == 1, "a report in which no check ran is not clean"
    report.ran("shots", "d/fs2")
    assert report.exit_code == 0 and "(clean)" in report.to_text()
    report.add("duplicate_video", "warning", "d", "twice")
    assert report.exit_code == 1


def test_report_with_a_check_not_done_is_not_clean():
    report = AuditReport("x")
    report.ran("shots", "d/fs2")
    report.skipped("label_mismatch", "d", "d/test1", "split file /x/test.txt is absent")
    text = report.to_text()
    assert report.exit_code == 1 and "(clean)" not in text and "incomplete" in text
    assert "Checks not done (1)" in text and "/x/test.txt is absent" in text
    assert report.to_dict()["checks_not_done"][0]["check"] == "label_mismatch"


def _one_line_error(capsys, argv) -> str:
    from harness.cli import main

    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err + captured.out
    return lines[0]


def test_cli_without_files_root_checked_nothing_is_an_error(capsys):
    """The user report: no usable --files-root used to print "clean" and exit 0 having checked nothing."""
    line = _one_line_error(capsys, ["audit", "--protocol", "base2novel", "--dataset", "hmdb51"])
    assert "checked nothing" in line and "no --files-root given" in line
    assert "labels/hmdb_51_labels.csv" in line and "--files-root DIR" in line and "ViFi-CLIP" in line


def test_cli_files_root_without_the_files_checked_nothing(tmp_path, capsys):
    line = _one_line_error(capsys, ["audit", "--protocol", "base2novel", "--dataset", "hmdb51",
                                    "--files-root", str(tmp_path)])
    assert "checked nothing" in line and f"under --files-root {tmp_path}" in line


def test_cli_files_root_that_does_not_exist(tmp_path, capsys):
    line = _one_line_error(capsys, ["audit", "--dataset", "hmdb51", "--files-root", str(tmp_path / "absent")])
    assert f"--files-root {tmp_path / 'absent'} is not a folder" in line


def test_cli_partial_audit_lists_what_was_not_checked(tmp_path, capsys):
    yaml_path = build(tmp_path)
    (tmp_path / "fs2.txt").unlink()
    args = parse("--dataset", yaml_path, "--files-root", tmp_path, "--protocol", "few_shot")
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "Checks not done" in out and str(tmp_path / "fs2.txt") in out and "incomplete" in out
    assert "label_mismatch: tgt/test1" in out  # what could run did run


def parse(*argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    audit.add_parser(sub)
    return parser.parse_args(["audit", *map(str, argv)])


def test_cli_handler(tmp_path, capsys):
    yaml_path = build(tmp_path, swap=True)
    args = parse("--dataset", yaml_path, "--files-root", tmp_path, "--protocol", "few_shot", "--json")
    assert args.func(args) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["error"] == 2
    clean = tmp_path / "clean"
    clean_yaml = build(clean)
    args = parse("--dataset", clean_yaml, "--files-root", clean, "--protocol", "few_shot")
    assert args.func(args) == 0
    assert "(clean)" in capsys.readouterr().out
    args = parse("--dataset", "no-such-dataset")
    with pytest.raises(HarnessError):
        args.func(args)


# ------------------------------------------------------------------------------------------ real files


def real(name):
    root = SHARED / ("ez-clip" if "ezclip" in name else "vifi-clip")
    if not root.is_dir():
        pytest.skip(f"{root} absent")
    return load_dataset(name, files_root=root)


@needs_shared
def test_vifi_hmdb_swap_flagged():
    report = audit_dataset(real("hmdb51"))
    summary = report.summary["label_mismatch"]
    for split in ("test1", "test2", "test3"):
        s = summary[f"hmdb51/{split}"]
        assert (s["videos"], s["checked"], s["mismatched"]) == (1530, 1530, 120)
        assert sorted(s["swapped"]) == [["kick", "kick ball"], ["sword", "sword exercise"]]
    for k in (2, 4, 8, 16):
        assert summary[f"hmdb51/fs{k}"]["mismatched"] == 4 * k
    assert summary["hmdb51/base_val"]["swapped"] == [["sword", "sword exercise"]]
    assert summary["hmdb51/novel_val"]["swapped"] == [["kick", "kick ball"]]
    flagged = {c for f in report.select("label_mismatch") for p in f.details["pairs"] for c in (p["path_class"], p["label_name"])}
    assert flagged == {"kick", "kick ball", "sword", "sword exercise"}
    assert report.select("duplicate_video") == []


@needs_shared
def test_ezclip_hmdb_not_flagged():
    report = audit_dataset(real("hmdb51-ezclip"))
    assert report.select("label_mismatch") == []
    assert report.summary["label_mismatch"]["hmdb51-ezclip/test1"]["checked"] == 1530
    assert report.counts()["error"] == report.counts()["warning"] == 0
    _only_source_train_list_unchecked(report)


def _only_source_train_list_unchecked(report):
    """../shared/data holds no K-400 training list: the zero-shot train/test duplicate check cannot run, so the
    audit is incomplete (exit 1), and says so, rather than clean."""
    assert report.not_done and all(d["check"] == "duplicate_video" and "source training list absent" in d["why"]
                                   for d in report.not_done), report.not_done
    assert report.exit_code == 1


@needs_shared
def test_vifi_ucf_clean():
    report = audit_dataset(real("ucf101"))
    assert report.select("label_mismatch") == []
    assert report.summary["label_mismatch"]["ucf101/test1"]["checked"] == 3783
    # the K-400 overlap of UCF-101 is part of the protocol: info only
    assert report.counts()["error"] == report.counts()["warning"] == 0
    _only_source_train_list_unchecked(report)


@needs_shared
def test_ezclip_k600_exclusive_renamed_k400_classes():
    source = real("kinetics400")  # ViFi's K-400 csv is byte-identical to EZ-CLIP's
    report = audit_protocol("zero_shot", [real("kinetics600-ezclip")], source=source)
    summary = report.summary["class_overlap"]["kinetics600-ezclip"]
    flagged = {m["target"] for m in summary["matches"]}
    renamed = {"changing wheel (not on bike)", "cooking sausages (not on barbeque)", "dyeing hair", "hugging (not baby)",
               "making the bed", "opening bottle (not wine)", "passing american football (not in game)",
               "throwing ball (not baseball or American football)", "tying necktie",
               "person collecting garbage", "waking up"}
    assert renamed <= flagged
    assert summary["exact"] == 0 and summary["normalised"] == 8
    errors = report.select("class_overlap", severity="error")
    assert len(errors) == 1 and "dyeing hair" in errors[0].message


@needs_shared
def test_vifi_k600_has_no_exact_or_normalised_overlap():
    report = audit_dataset(real("kinetics600"))
    summary = report.summary["class_overlap"]["kinetics600"]
    assert summary["target_classes"] == 217 and summary["exact"] == 0 and summary["normalised"] == 0
    assert report.select("class_overlap", severity="error") == []


@needs_shared
def test_k600_exclusive_csv_against_k400_names_directly():
    k400 = read_class_names(SHARED / "vifi-clip" / "labels" / "kinetics_400_labels.csv")
    exclusive = read_class_names(SHARED / "ez-clip" / "lists" / "kinetics_600_labels_exclusive.csv")
    assert not set(k400) & set(exclusive)  # no string-equal name ...
    matches = {m["target"]: m for m in class_overlap(k400, exclusive)}
    assert matches["dyeing hair"]["source"] == ["dying hair"]  # ... but renamed ones
    assert matches["tying necktie"]["source"] == ["tying tie"]
