"""``python -m harness prepare`` (harness.data.prepare): expected vs found videos, missing list, absent files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.data import prepare
from harness.data.catalog import VideoIndex, load_dataset
from harness.errors import HarnessError
from harness.paths import shared_data_dir

SHARED = shared_data_dir()


def needs_shared(fn):
    fn = pytest.mark.shared_data(fn)
    return pytest.mark.skipif(SHARED is None, reason="../shared/data is absent")(fn)


CLASSES = ["kick", "wave"]


def build(root: Path) -> Path:
    """files/: a dataset with a test list (flat names), 2-shot train and an absent 4-shot file."""
    files = root / "files"
    files.mkdir(parents=True)
    (files / "classes.csv").write_text("id,name\n0,kick\n1,wave\n")
    (files / "test.txt").write_text("".join(f"{c}_{i}.avi {k}\n" for k, c in enumerate(CLASSES) for i in range(3)))
    (files / "fs2.txt").write_text("".join(f"{c}_{10 + i}.avi {k}\n" for k, c in enumerate(CLASSES) for i in range(2)))
    yaml_path = root / "mini.yaml"
    yaml_path.write_text(
        "name: mini\nkind: real\nfiles_from: {repo: someone/mini}\nclasses: {path: classes.csv}\n"
        "splits: {test1: {path: test.txt}, fs2: {path: fs2.txt}, fs4: {path: fs4.txt}}\n"
        "protocols: {zero_shot: {role: target, eval: [test1]}, few_shot: {train: {2: fs2, 4: fs4}, eval: test1}}\n"
    )
    return yaml_path


def make_videos(root: Path, skip=()) -> Path:
    """mmaction2 layout: <class>/<file>."""
    videos = root / "videos"
    for c in CLASSES:
        (videos / c).mkdir(parents=True, exist_ok=True)
        for i in list(range(3)) + [10, 11]:
            name = f"{c}_{i}.avi"
            if name not in skip:
                (videos / c / name).write_bytes(b"")
    return videos


def parse(*argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    prepare.add_parser(sub)
    return parser.parse_args(["prepare", *map(str, argv)])


def test_report_counts_and_absent_files(tmp_path):
    yaml_path = build(tmp_path)
    videos = make_videos(tmp_path, skip={"wave_2.avi", "kick_10.avi"})
    defn = load_dataset(str(yaml_path), files_root=tmp_path / "files", video_root=videos)
    report = prepare.prepare_report(defn)
    zs = report["protocols"]["zero_shot"]
    assert not zs["ready"] and zs["absent_files"] == []
    assert [(i["split"], i["expected"], i["found"], i["missing"]) for i in zs["lists"]] == [("test1", 6, 5, 1)]
    fs = report["protocols"]["few_shot"]
    assert [(i["split"], i["found"], i["missing"]) for i in fs["lists"]][:1] == [("fs2", 3, 1)]
    assert fs["absent_files"][0]["path"].endswith("fs4.txt") and "someone/mini" in fs["absent_files"][0]["from"]
    assert report["missing_videos"] == ["wave_2.avi", "kick_10.avi"]
    assert report["indexed_files"] == 8 and report["ready"] is False
    text = prepare.format_report(report)
    assert "Protocol zero_shot: NOT ready" in text and "absent file:" in text and "Missing videos: 2 unique" in text


def test_cli_writes_missing_list(tmp_path, capsys):
    yaml_path = build(tmp_path)
    videos = make_videos(tmp_path, skip={"wave_2.avi"})
    out = tmp_path / "out" / "missing.txt"
    args = parse("--dataset", yaml_path, "--root", videos, "--files-root", tmp_path / "files",
                 "--protocol", "zero-shot", "--missing-out", out)
    assert args.func(args) == 1
    assert out.read_text() == "wave_2.avi\n"
    assert "test1" in capsys.readouterr().out


def test_cli_ready(tmp_path, capsys):
    yaml_path = build(tmp_path)
    videos = make_videos(tmp_path)
    args = parse("--dataset", yaml_path, "--root", videos, "--files-root", tmp_path / "files", "--protocol", "zero_shot", "--json")
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ready"] and data["protocols"]["zero_shot"]["lists"][0]["found"] == 6
    args = parse("--dataset", yaml_path, "--root", videos, "--files-root", tmp_path / "files")
    assert args.func(args) == 1  # few_shot needs the absent fs4 file


def test_bad_input(tmp_path):
    yaml_path = build(tmp_path)
    args = parse("--dataset", yaml_path, "--root", tmp_path / "nowhere")
    with pytest.raises(HarnessError) as e:
        args.func(args)
    assert "video root not found" in str(e.value)
    defn = load_dataset(str(yaml_path), files_root=tmp_path / "files", video_root=make_videos(tmp_path))
    with pytest.raises(HarnessError) as e:
        prepare.prepare_report(defn, ["base2novel"])
    assert "does not define protocol 'base2novel'" in str(e.value)
    with pytest.raises(HarnessError):
        prepare.prepare_report(defn, ["nonsense"])
    defn = load_dataset(str(yaml_path), files_root=tmp_path / "files")
    with pytest.raises(HarnessError) as e:
        prepare.prepare_report(defn)
    assert "--root" in str(e.value)


@needs_shared
@pytest.mark.parametrize("name,root", [("hmdb51", "vifi-clip"), ("hmdb51-ezclip", "ez-clip")])
def test_real_hmdb_lists_against_a_class_folder_tree(tmp_path, name, root):
    """Videos in mmaction2's <class>/<file>.avi layout are found from ViFi's flat names and EZ-CLIP's absolute ones."""
    files_root = SHARED / root
    if not files_root.is_dir():
        pytest.skip(f"{files_root} absent")
    defn = load_dataset(name, files_root=files_root, video_root=tmp_path)
    from harness.data.class_names import class_from_path

    names = defn.class_names()
    videos = {p for p, _ in defn.split("test1").entries}  # split-1 test (both layouts have it)
    dropped = sorted(videos)[:3]
    for rel in videos - set(dropped):
        folder = tmp_path / class_from_path(rel, names, "hmdb").replace(" ", "_")
        folder.mkdir(exist_ok=True)
        (folder / rel).write_bytes(b"")
    report = prepare.prepare_report(defn, ["zero_shot"], index=VideoIndex(tmp_path))
    test1 = report["protocols"]["zero_shot"]["lists"][0]
    assert (test1["split"], test1["expected"], test1["found"], test1["missing"]) == ("test1", 1530, 1527, 3)
    assert set(dropped) <= set(report["missing_videos"])
