"""Readers of class-name and split files: formats, auto-detection, one-line errors (harness.data.formats)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.data.formats import (
    class_file_format,
    name_key,
    read_class_file,
    read_class_names,
    read_descriptions,
    read_video_list,
    read_video_records,
    relative_video_path,
    sha256_file,
)
from harness.errors import HarnessError
from harness.paths import shared_data_dir

SHARED = shared_data_dir()


def needs_shared(fn):
    fn = pytest.mark.shared_data(fn)
    return pytest.mark.skipif(SHARED is None, reason="../shared/data is absent")(fn)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def one_line_error(exc_info, *needles: str) -> str:
    message = str(exc_info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


# ------------------------------------------------------------------------------------------ class names


def test_id_name_csv_plain_and_quoted(tmp_path):
    path = write(tmp_path, "a.csv", 'id,name\n0,"Approaching something with your camera"\n1,Attaching something, firmly\n')
    assert read_class_names(path) == ["Approaching something with your camera", "Attaching something, firmly"]
    assert class_file_format(path) == "csv"


def test_id_name_csv_rows_out_of_order_and_headerless(tmp_path):
    assert read_class_names(write(tmp_path, "b.csv", "id,name\n1,b\n0,a\n")) == ["a", "b"]
    assert read_class_names(write(tmp_path, "c.csv", "0,a\n1,b")) == ["a", "b"]


def test_gpt_csv_multiline_descriptions(tmp_path):
    text = 'SNo,Class Name,GPT3 discription\n1,brush hair,"\n\nBrushing hair, a daily action.\nSecond line."\n2,cartwheel,"\n\nA wheel."\n'
    path = write(tmp_path, "gpt.csv", text)
    assert class_file_format(path) == "gpt-csv"
    assert read_class_names(path) == ["brush hair", "cartwheel"]
    desc = read_descriptions(path)
    assert list(desc) == ["brush hair", "cartwheel"]
    assert desc["brush hair"] == "Brushing hair, a daily action.\nSecond line."


def test_froster_json(tmp_path):
    path = write(tmp_path, "x.json", '{"1": "Kick ball: A person kicks a ball", "0": "Kick: A person kicks"}')
    assert read_class_names(path) == ["Kick", "Kick ball"]
    assert read_descriptions(path) == {"Kick": "A person kicks", "Kick ball": "A person kicks a ball"}
    assert read_class_names(write(tmp_path, "l.json", '["a", "b"]')) == ["a", "b"]


def test_txt_label_map(tmp_path):
    path = write(tmp_path, "label_map.txt", "brush_hair\n\ncartwheel")
    assert class_file_format(path) == "txt"
    assert read_class_names(path) == ["brush_hair", "cartwheel"]
    # an id,name table saved as .txt is still a csv
    assert read_class_names(write(tmp_path, "t.txt", "id,name\n0,a\n")) == ["a"]


def test_read_class_file_reports_format_and_lines(tmp_path):
    cf = read_class_file(write(tmp_path, "a.csv", "id,name\n0,a\n1,b\n"))
    assert cf.format == "csv" and cf.lines == [2, 3] and cf.descriptions is None


@pytest.mark.parametrize(
    "name,text,needles",
    [
        ("h.csv", "ident,label\nx,y\n", ["h.csv:1", "unrecognised header"]),
        ("i.csv", "id,name\nzero,a\n", ["i.csv:2", "not an integer"]),
        ("j.csv", "id,name\n0,a\n0,b\n", ["j.csv:3", "duplicate class id 0"]),
        ("k.csv", "id,name\n0,a\n2,b\n", ["k.csv", "missing id 1"]),
        ("l.csv", "id,name\n0,a\n1,a\n", ["l.csv:3", "duplicate class name 'a'"]),
        ("m.csv", "id,name\n0,\n", ["m.csv:2", "empty class name"]),
        ("n.csv", "id,name\n0\n", ["n.csv:2", "malformed row"]),
        ("o.csv", "id,name\n", ["o.csv", "header but no classes"]),
        ("p.csv", 'SNo,Class Name,GPT3 discription\n1,a\n', ["p.csv:2", "malformed row"]),
        ("q.json", '{"0": "A: x",\n "1": }', ["q.json:2", "invalid JSON"]),
        ("r.json", '{"a": "A: x"}', ["r.json", "not a class id"]),
        ("s.json", '{"0": 3}', ["s.json", "not a string"]),
        ("t.json", '{"0": "A: x", "2": "B: y"}', ["t.json", "0..1"]),
        ("u.json", '"just a string"', ["u.json", "expected a JSON object"]),
        ("v.txt", "a\nb\na\n", ["v.txt:3", "duplicate class name"]),
    ],
)
def test_class_file_errors_are_one_line(tmp_path, name, text, needles):
    path = write(tmp_path, name, text)
    with pytest.raises(HarnessError) as exc_info:
        read_class_names(path)
    one_line_error(exc_info, *needles)


def test_class_file_missing_empty_folder_binary(tmp_path):
    with pytest.raises(HarnessError) as e:
        read_class_names(tmp_path / "nope.csv")
    one_line_error(e, "not found", "nope.csv")
    with pytest.raises(HarnessError) as e:
        read_class_names(write(tmp_path, "empty.csv", "  \n\n"))
    one_line_error(e, "empty", "empty.csv")
    with pytest.raises(HarnessError) as e:
        read_class_names(tmp_path)
    one_line_error(e, "folder")
    with pytest.raises(HarnessError) as e:
        read_class_names(write(tmp_path, "bin.txt", b"abc\n\xff\xfe\n"))
    one_line_error(e, "bin.txt:2", "UTF-8")


def test_descriptions_need_a_description_format(tmp_path):
    with pytest.raises(HarnessError) as e:
        read_descriptions(write(tmp_path, "a.csv", "id,name\n0,a\n"))
    one_line_error(e, "a.csv", "without descriptions")


def test_name_key():
    assert name_key("kick_ball") == name_key("Kick ball") == name_key("KickBall") == "kickball"


# ------------------------------------------------------------------------------------------ video lists


def test_two_and_three_field_lines(tmp_path):
    path = write(tmp_path, "a.txt", "v_ApplyEyeMakeup_g01_c01.avi 0\nval/x_000001_000011.mp4 3\nfolder/v 120 2\n")
    assert read_video_list(path) == [("v_ApplyEyeMakeup_g01_c01.avi", 0), ("val/x_000001_000011.mp4", 3), ("folder/v", 2)]
    records = read_video_records(path)
    assert [r.num_frames for r in records] == [None, None, 120]
    assert [r.line for r in records] == [1, 2, 3]


def test_records_not_newlines(tmp_path):
    with_newline = write(tmp_path, "a.txt", "a.avi 0\nb.avi 1\nc.avi 2\n")
    without = write(tmp_path, "b.txt", "a.avi 0\nb.avi 1\nc.avi 2")
    crlf_blank = write(tmp_path, "c.txt", "a.avi 0\r\n\r\nb.avi 1\r\nc.avi 2\r\n\n")
    assert without.read_bytes().count(b"\n") == 2
    assert read_video_list(with_newline) == read_video_list(without) == read_video_list(crlf_blank)
    assert len(read_video_list(without)) == 3


def test_hash_at_line_start_is_a_record(tmp_path):
    path = write(tmp_path, "h.txt", "#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi 4\n")
    assert read_video_list(path) == [("#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi", 4)]


def test_absolute_prefixes_are_stripped(tmp_path):
    text = (
        "/media/sdb_access/Data_for_Action_CLIP/HMDB51/Oceans11_eat_u_cm_np1_fr_med_7.avi 53 11\n"
        "/cluster/datastore/x/UCF/v_SoccerPenalty_g04_c03 70 84\n"
        "C:\\data\\k400\\abc_000001_000011.mp4 300 1\n"
        "/public/kinetics400/extracted_val_frames/ice_skating/99elfyHn6wo 360 1\n"
    )
    path = write(tmp_path, "ez.txt", text)
    assert [p for p, _ in read_video_list(path)] == [
        "Oceans11_eat_u_cm_np1_fr_med_7.avi",
        "v_SoccerPenalty_g04_c03",
        "abc_000001_000011.mp4",
        "99elfyHn6wo",
    ]
    # with the class names, a class folder above the video is kept
    names = ["eat", "ice skating"] + [f"class {i}" for i in range(100)]
    assert [p for p, _ in read_video_list(path, class_names=names)][3] == "ice_skating/99elfyHn6wo"
    assert relative_video_path("./train/a.mp4") == "train/a.mp4"
    assert relative_video_path("train\\a.mp4") == "train/a.mp4"
    assert relative_video_path("/x/ice_skating/v", ["ice skating"]) == "ice_skating/v"


@pytest.mark.parametrize(
    "text,needles",
    [
        ("a.avi 0\nb.avi\n", [":2", "1 fields", "<path> <label>"]),
        ("a.avi 0\nb c d 1 2\n", [":2", "5 fields"]),
        ("a.avi zero\n", [":1", "label 'zero' is not an integer"]),
        ("a.avi x 1\n", [":1", "number of frames 'x'"]),
        ("a.avi -1\n", [":1", "out of range"]),
    ],
)
def test_video_list_errors_are_one_line(tmp_path, text, needles):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(HarnessError) as e:
        read_video_list(path)
    one_line_error(e, "bad.txt", *needles)


def test_video_list_label_range(tmp_path):
    path = write(tmp_path, "r.txt", "a.avi 0\nb.avi 1\nc.avi 5")
    assert len(read_video_list(path)) == 3
    with pytest.raises(HarnessError) as e:
        read_video_list(path, num_classes=5)
    one_line_error(e, "r.txt:3", "label 5 out of range 0..4 for 5 classes")
    with pytest.raises(HarnessError) as e:
        read_video_list(path, class_names=["a", "b"])
    one_line_error(e, "r.txt:3", "0..1")


def test_video_list_missing_and_empty(tmp_path):
    with pytest.raises(HarnessError) as e:
        read_video_list(tmp_path / "none.txt")
    one_line_error(e, "video list not found", "none.txt")
    with pytest.raises(HarnessError) as e:
        read_video_list(write(tmp_path, "e.txt", "\n\n"))
    one_line_error(e, "video list is empty", "e.txt")


def test_sha256_file(tmp_path):
    path = write(tmp_path, "a.txt", "abc")
    assert sha256_file(path) == hashlib.sha256(b"abc").hexdigest()
    path.write_text("abcd")
    assert sha256_file(path) == hashlib.sha256(b"abcd").hexdigest()
    with pytest.raises(HarnessError) as e:
        sha256_file(tmp_path / "missing.txt")
    one_line_error(e, "missing.txt")


# ------------------------------------------------------------------------------------------ real files


@needs_shared
def test_real_files_without_trailing_newline():
    vifi = SHARED / "vifi-clip" / "datasets_splits" / "k600_splits"
    for split, n in ((1, 14084), (2, 13978), (3, 14136)):
        path = vifi / f"ZS_split{split}_K600_eval.txt"
        assert path.read_bytes().count(b"\n") == n - 1  # wc -l under-counts
        assert len(read_video_list(path, num_classes=160)) == n
    ds = SHARED / "ez-clip" / "dataset_splits" / "UCF" / "Zero_shot" / "test_DS.txt"
    assert ds.read_bytes().count(b"\n") == 3840
    assert len(read_video_list(ds, num_classes=101)) == 3841


@needs_shared
@pytest.mark.parametrize(
    "rel,n",
    [
        ("vifi-clip/labels/kinetics_400_labels.csv", 400),
        ("vifi-clip/labels/ssv2_labels.csv", 174),  # quoted names
        ("mmaction2/tools/data/hmdb51/label_map.txt", 51),
        ("ez-clip/GPT_discription/HMDB_gpt_Class_discription_new.csv", 51),
        ("ez-clip/GPT_discription/K_600_gpt_Class_discription_new.csv", 600),
        ("ez-clip/lists/kinetics_600_labels_exclusive.csv", 232),
        ("tc-clip/labels/labels_froster/hmdb_51_llm_labels.json", 51),
    ],
)
def test_real_class_files(rel, n):
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"{rel} absent")
    names = read_class_names(path)
    assert len(names) == n and len(set(names)) == n


@needs_shared
def test_real_descriptions_and_froster_order():
    gpt = SHARED / "ez-clip" / "GPT_discription" / "HMDB_gpt_Class_discription_new.csv"
    csv_names = read_class_names(SHARED / "ez-clip" / "lists" / "hmdb51_labels.csv")
    desc = read_descriptions(gpt)
    assert list(desc) == csv_names and all(desc.values())
    froster = read_class_names(SHARED / "tc-clip" / "labels" / "labels_froster" / "hmdb_51_llm_labels.json")
    assert froster[20:22] == ["Kick", "Kick ball"] and froster[44:46] == ["Sword", "Sword exercise"]


@needs_shared
def test_real_ez_clip_absolute_paths():
    path = SHARED / "ez-clip" / "dataset_splits" / "HMDB" / "Zero_shot" / "test.txt"
    entries = read_video_list(path, num_classes=51)
    assert len(entries) == 1530
    assert all("/" not in p for p, _ in entries)
    vifi = {p for p, _ in read_video_list(SHARED / "vifi-clip" / "datasets_splits" / "hmdb_splits" / "val1.txt")}
    assert {p for p, _ in entries} == vifi
