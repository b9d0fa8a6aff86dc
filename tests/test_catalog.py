"""Dataset definitions → objects (harness.data.catalog), on small synthetic layouts and on the real files."""
from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from harness.data.catalog import (
    VideoIndex,
    canonical_protocol,
    list_datasets,
    load_dataset,
)
from harness.data.formats import read_class_names, read_video_list
from harness.errors import HarnessError
from harness.paths import shared_data_dir

SHARED = shared_data_dir()


def needs_shared(fn):
    fn = pytest.mark.shared_data(fn)
    return pytest.mark.skipif(SHARED is None, reason="../shared/data is absent")(fn)


def one_line(exc_info, *needles):
    message = str(exc_info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)


# ------------------------------------------------------------------------------------ a synthetic layout

CLASSES = ["brush hair", "kick", "kick ball", "sword", "sword exercise", "wave"]
BASE = ["wave", "sword", "sword exercise"]  # own order, as ViFi's base csvs
NOVEL = ["brush hair", "kick", "kick ball"]


def video(c: str, i: int) -> str:
    return f"Title_{i}_{c.replace(' ', '_')}_u_cm_np1_fr_med_{i}.avi"


def write_csv(path: Path, names) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names)))


def write_list(path: Path, entries, trailing_newline=True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(f"{p} {label}" for p, label in entries)
    path.write_text(text + ("\n" if trailing_newline else ""))


def make_layout(root: Path, *, b2n_space: str = "local") -> Path:
    """A ViFi-CLIP-like files_root with 6 classes, 3 test splits, K-shot files and base/novel files; returns
    the path of a dataset yaml describing it."""
    write_csv(root / "labels" / "all.csv", CLASSES)
    write_csv(root / "labels" / "base.csv", BASE)
    write_csv(root / "labels" / "novel.csv", NOVEL)
    full = {c: i for i, c in enumerate(CLASSES)}
    for split in (1, 2, 3):
        write_list(root / "splits" / f"test{split}.txt",
                   [(video(c, 10 * split + j), full[c]) for c in CLASSES for j in range(2)], trailing_newline=split != 2)
    write_list(root / "splits" / "train1.txt", [(video(c, 100 + j), full[c]) for c in CLASSES for j in range(6)])
    for k in (2, 4):
        write_list(root / "splits" / f"fs{k}.txt", [(video(c, 100 + j), full[c]) for c in CLASSES for j in range(k)])

    def ids(names):
        return {c: (i if b2n_space == "local" else full[c]) for i, c in enumerate(names)}

    base_ids, novel_ids = ids(BASE), ids(NOVEL)
    for seed in (1, 2):
        write_list(root / "b2n" / f"fs_base_s{seed}.txt", [(video(c, 100 + seed + j), base_ids[c]) for c in BASE for j in range(2)])
    write_list(root / "b2n" / "base_val.txt", [(video(c, 10 + j), base_ids[c]) for c in BASE for j in range(2)])
    write_list(root / "b2n" / "novel_val.txt", [(video(c, 10 + j), novel_ids[c]) for c in NOVEL for j in range(2)])
    yaml_path = root / "toy.yaml"
    yaml_path.write_text(
        """
name: toy
version: 1
kind: real
title: Toy HMDB
files_from: {repo: someone/toy-repo, url: https://example.org/toy}
path_class: hmdb
classes: {path: labels/all.csv}
descriptions: {path: null}
splits:
  test1: {path: splits/test1.txt}
  test2: {path: splits/test2.txt}
  test3: {path: splits/test3.txt}
  train1: {path: splits/train1.txt}
  fs2: {path: splits/fs2.txt}
  fs4: {path: splits/fs4.txt}
  fs8: {path: splits/fs8.txt, from: "nobody ships this one"}
  fs_base_s1: {path: b2n/fs_base_s1.txt}
  fs_base_s2: {path: b2n/fs_base_s2.txt}
  base_val: {path: b2n/base_val.txt}
  novel_val: {path: b2n/novel_val.txt}
protocols:
  zero_shot: {role: target, eval: [test1, test2, test3]}
  base2novel:
    base_classes: {path: labels/base.csv}
    novel_classes: {path: labels/novel.csv}
    train: {1: fs_base_s1, 2: fs_base_s2}
    eval_base: base_val
    eval_novel: novel_val
  few_shot: {train: {2: fs2, 4: fs4, 8: fs8}, eval: test1, pool: train1}
"""
    )
    return yaml_path


@pytest.fixture
def toy(tmp_path):
    return load_dataset(str(make_layout(tmp_path)), files_root=tmp_path, video_root=tmp_path / "videos")


def test_protocols_and_roles(toy):
    assert toy.protocols() == ["zero_shot", "base2novel", "few_shot"]
    assert toy.supports("zero-shot") and toy.supports("base-to-novel") and toy.supports("few_shot")
    assert toy.zero_shot_role() == "target"
    assert toy.class_names() == CLASSES
    assert toy.descriptions() is None
    with pytest.raises(HarnessError) as e:
        toy.zero_shot_train()
    one_line(e, "zero-shot target")


def test_zero_shot_evals(toy):
    evals = toy.zero_shot_evals()
    assert list(evals) == ["test1", "test2", "test3"]
    for vl in evals.values():
        assert len(vl) == 12  # test2 has no trailing newline
        assert vl.class_names == CLASSES
        assert vl.name.startswith("toy/")
        assert vl.files[-1].name.startswith("test")


@pytest.mark.parametrize("space", ["local", "full"])
def test_base2novel_relabels_both_id_spaces(tmp_path, space):
    defn = load_dataset(str(make_layout(tmp_path, b2n_space=space)), files_root=tmp_path)
    train, base, novel = defn.base2novel(1)
    assert train.class_names == BASE and base.class_names == BASE and novel.class_names == NOVEL
    for vl in (train, base, novel):
        assert {label for _, label in vl.entries} == set(range(len(vl.class_names)))
        for path, label in vl.entries:  # the class in the file name is the class of the relabelled id
            assert vl.class_names[label].replace(" ", "_") in path
    # the base ids of the toy in full space (3, 4, 5) do not fit 0..2, so auto picks full; local fits → local
    assert base.label_space == space
    assert defn.base2novel_seeds() == [1, 2]
    with pytest.raises(HarnessError) as e:
        defn.base2novel(3)
    one_line(e, "no base2novel seed 3", "1, 2")


def test_base2novel_label_space_can_be_declared(tmp_path):
    yaml_path = make_layout(tmp_path, b2n_space="full")
    text = yaml_path.read_text().replace("base_val: {path: b2n/base_val.txt}", "base_val: {path: b2n/base_val.txt, label_space: local}")
    yaml_path.write_text(text)
    defn = load_dataset(str(yaml_path), files_root=tmp_path)
    with pytest.raises(HarnessError) as e:
        defn.split("base_val")
    one_line(e, "base_val.txt:", "out of range 0..2")


def test_base2novel_wrong_class_in_full_space(tmp_path):
    yaml_path = make_layout(tmp_path)
    write_list(tmp_path / "b2n" / "base_val.txt", [(video("wave", 1), 5), (video("kick", 1), 1)])
    defn = load_dataset(str(yaml_path), files_root=tmp_path)
    with pytest.raises(HarnessError) as e:
        defn.split("base_val").entries
    one_line(e, "base_val.txt", "label 5 fits neither")
    text = yaml_path.read_text().replace("base_val: {path: b2n/base_val.txt}", "base_val: {path: b2n/base_val.txt, label_space: full}")
    yaml_path.write_text(text)
    defn = load_dataset(str(yaml_path), files_root=tmp_path)
    with pytest.raises(HarnessError) as e:
        defn.split("base_val")
    one_line(e, "base_val.txt:2", "class 'kick' (id 1) is not one of the base classes")


def test_few_shot(toy):
    assert toy.few_shot_shots() == [2, 4, 8]
    train, test = toy.few_shot(2)
    assert set(train.videos_per_class().values()) == {2} and len(train.videos_per_class()) == 6
    assert test.name == "toy/test1"
    pool, test = toy.few_shot_pool()
    assert len(pool) == 36
    with pytest.raises(HarnessError) as e:
        toy.few_shot(16)
    one_line(e, "no 16-shot list", "2, 4, 8")


def test_absent_file_names_file_and_origin(toy):
    with pytest.raises(HarnessError) as e:
        toy.few_shot(8)
    one_line(e, "missing split file (fs8)", "fs8.txt", "nobody ships this one")
    assert [r.rel for r in toy.missing_files("few_shot")] == ["splits/fs8.txt"]
    assert toy.missing_files("zero_shot") == []
    with pytest.raises(HarnessError) as e:
        toy.check("few_shot")
    one_line(e, "fs8.txt")
    toy.check("zero_shot")


def test_origin_from_files_from(tmp_path):
    defn = load_dataset(str(make_layout(tmp_path)), files_root=tmp_path)
    (tmp_path / "splits" / "test2.txt").unlink()
    with pytest.raises(HarnessError) as e:
        defn.zero_shot_evals()
    one_line(e, "test2.txt", "someone/toy-repo", "splits/test2.txt")


def test_no_files_root(tmp_path):
    defn = load_dataset(str(make_layout(tmp_path)))
    assert defn.files_root is None
    with pytest.raises(HarnessError) as e:
        defn.class_names()
    one_line(e, "needs --files-root", "someone/toy-repo")


def test_file_hashes(toy, tmp_path):
    hashes = toy.file_hashes("zero_shot")
    assert set(hashes) == {"labels/all.csv", "splits/test1.txt", "splits/test2.txt", "splits/test3.txt"}
    assert hashes["labels/all.csv"] == hashlib.sha256((tmp_path / "labels" / "all.csv").read_bytes()).hexdigest()
    every = toy.file_hashes()
    assert "labels/base.csv" in every and "b2n/novel_val.txt" in every and "splits/fs8.txt" not in every
    with pytest.raises(HarnessError):
        toy.file_hashes("few_shot")  # fs8 absent


def test_classes_override(tmp_path):
    yaml_path = make_layout(tmp_path)
    corrected = tmp_path / "corrected.json"
    corrected.write_text('{' + ", ".join(f'"{i}": "{n.capitalize()}: the action {n}"' for i, n in enumerate(CLASSES)) + '}')
    defn = load_dataset(str(yaml_path), files_root=tmp_path, classes=corrected)
    assert defn.class_names()[1] == "Kick"
    assert defn.descriptions()["Kick"] == "the action kick"
    assert defn.zero_shot_evals()["test1"].descriptions["Kick ball"] == "the action kick ball"
    short = tmp_path / "short.csv"
    write_csv(short, CLASSES[:3])
    defn = load_dataset(str(yaml_path), files_root=tmp_path, classes=short)
    with pytest.raises(HarnessError) as e:
        defn.class_names()
    one_line(e, "has 3 classes but dataset 'toy' has 6")


def test_descriptions_matched_by_name(tmp_path):
    yaml_path = make_layout(tmp_path)
    gpt = tmp_path / "gpt.csv"
    gpt.write_text("SNo,Class Name,GPT3 discription\n" + "".join(f'{i + 1},{n.title()},"\n\nAbout {n}."\n' for i, n in enumerate(reversed(CLASSES))))
    yaml_path.write_text(yaml_path.read_text().replace("descriptions: {path: null}", "descriptions: {path: gpt.csv}"))
    defn = load_dataset(str(yaml_path), files_root=tmp_path)
    assert defn.descriptions()["kick ball"] == "About kick ball."
    train, base, novel = defn.base2novel(1)
    assert list(novel.descriptions) == NOVEL
    gpt.write_text("SNo,Class Name,GPT3 discription\n1,kick,x\n")
    defn = load_dataset(str(yaml_path), files_root=tmp_path)
    with pytest.raises(HarnessError) as e:
        defn.descriptions()
    one_line(e, "gpt.csv has no description for class 'brush hair'")


def test_custom_dataset(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("juggling\nwaving\n")
    ann = tmp_path / "list.txt"
    ann.write_text("a/x.mp4 0\nb/y.mp4 1")
    defn = load_dataset("custom", video_root=tmp_path, ann_file=ann, classes=classes)
    assert defn.protocols() == ["zero_shot"] and defn.zero_shot_role() == "target"
    assert not defn.supports("base2novel")
    evals = defn.zero_shot_evals()
    assert list(evals) == ["test"] and evals["test"].entries == [("a/x.mp4", 0), ("b/y.mp4", 1)]
    assert evals["test"].class_names == ["juggling", "waving"]
    assert set(defn.file_hashes()) == {"classes.txt", "list.txt"}
    with pytest.raises(HarnessError) as e:
        load_dataset("custom", video_root=tmp_path, ann_file=ann)
    one_line(e, "--classes")
    ann.write_text("a/x.mp4 0\nb/y.mp4 2\n")
    with pytest.raises(HarnessError) as e:
        load_dataset("custom", video_root=tmp_path, ann_file=ann, classes=classes).zero_shot_evals()
    one_line(e, "list.txt:2", "out of range 0..1")


def test_ann_file_only_for_custom(tmp_path):
    with pytest.raises(HarnessError) as e:
        load_dataset("hmdb51", ann_file=tmp_path / "x.txt")
    one_line(e, "--ann-file only applies to --dataset custom")


def test_embedded_hook(tmp_path, monkeypatch):
    root = tmp_path / "embedded"
    make_layout(root)
    yaml_path = tmp_path / "toy-embedded.yaml"
    yaml_path.write_text((root / "toy.yaml").read_text().replace("name: toy", "name: toy-embedded").replace("kind: real", "kind: embedded"))
    module = types.ModuleType("harness.data.embedded")
    calls = []
    module.ensure_embedded = lambda: calls.append(1) or root
    monkeypatch.setitem(sys.modules, "harness.data.embedded", module)
    defn = load_dataset(str(yaml_path))
    assert calls == [1] and defn.files_root == root and defn.video_root == root
    assert len(defn.zero_shot_evals()["test1"]) == 12
    assert "embedded benchmark" in defn.classes_ref().origin


def test_unknown_dataset_and_protocol():
    with pytest.raises(HarnessError) as e:
        load_dataset("hmdb5")
    one_line(e, "unknown dataset 'hmdb5'", "did you mean 'hmdb51'", "kinetics400")
    with pytest.raises(HarnessError) as e:
        canonical_protocol("fewshots")
    one_line(e, "unknown protocol")
    assert canonical_protocol("Base-to-Novel") == "base2novel"


@pytest.mark.parametrize(
    "old,new,needle",
    [
        ("kind: real", "kind: virtual", "kind 'virtual'"),
        ("eval: [test1, test2, test3]", "eval: [test1, test9]", "names split 'test9'"),
        ("zero_shot: {role: target,", "zero_shot: {role: sink,", "role must be source or target"),
        ("    eval_novel: novel_val\n", "", "base2novel needs 'eval_novel'"),
        ("  few_shot:", "  fewshot_x:", "unknown protocol 'fewshot_x'"),
        ("path_class: hmdb", "path_class: filename", "path_class 'filename'"),
        ("test1: {path: splits/test1.txt}", "test1: {path: splits/test1.txt, label_space: global}", "label_space 'global'"),
        ("title: Toy HMDB", "title: [unclosed", "invalid YAML"),
    ],
)
def test_definition_validation(tmp_path, old, new, needle):
    yaml_path = make_layout(tmp_path)
    text = yaml_path.read_text()
    assert old in text
    yaml_path.write_text(text.replace(old, new))
    with pytest.raises(HarnessError) as e:
        load_dataset(str(yaml_path), files_root=tmp_path)
    one_line(e, needle)


def test_video_index_resolution(tmp_path):
    root = tmp_path / "videos"
    for rel in ["kick/a_kick_u.avi", "HandstandPushups/v_HandStandPushups_g01_c01.avi", "train/x.mp4",
                "val/x.mp4", "frames/v_Typing_g10_c04/img_00001.jpg", "k/dup.avi", "j/dup.avi", ".hidden.avi"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    index = VideoIndex(root)
    assert index.lookup("kick/a_kick_u.avi") == "kick/a_kick_u.avi"  # exact
    assert index.lookup("a_kick_u.avi") == "kick/a_kick_u.avi"  # by file name
    assert index.lookup("val/x.mp4") == "val/x.mp4" and index.lookup("videos_val/x.mp4") is None  # ambiguous name
    assert index.lookup("v_HandStandPushups_g01_c01") == "HandstandPushups/v_HandStandPushups_g01_c01.avi"  # stem
    assert index.lookup("v_handstandpushups_g01_c01") is not None  # case ignored at the stem step
    assert index.lookup("v_Typing_g10_c04") == "frames/v_Typing_g10_c04"  # a frame folder
    assert index.lookup("dup.avi") is None and index.lookup("k/dup.avi") == "k/dup.avi"
    assert index.lookup(".hidden.avi") is None and index.lookup("nothing.avi") is None
    assert index.find("a_kick_u.avi") == root / "kick" / "a_kick_u.avi"
    with pytest.raises(HarnessError) as e:
        VideoIndex(tmp_path / "none")
    one_line(e, "video root not found")


def test_video_list_resolve(toy, tmp_path):
    (tmp_path / "videos" / "kick").mkdir(parents=True)
    (tmp_path / "videos" / "kick" / video("kick", 10)).write_bytes(b"")
    resolved = toy.zero_shot_evals()["test1"].resolve()
    assert sum(p is not None for p in resolved) == 1


def test_repository_definitions_load_without_files():
    names = list_datasets()
    for expected in ["kinetics400", "kinetics600", "ucf101", "hmdb51", "ssv2", "custom", "hmdb51-ezclip", "ucf101-ezclip"]:
        assert expected in names
    for name in names:
        if name == "custom":
            continue
        defn = load_dataset(name)  # parses and validates; reads nothing
        assert defn.name == name and defn.protocols()
        assert all(ref.origin for ref in defn.files())


# ------------------------------------------------------------------------------------------ real files


def vifi(name, **kw):
    root = SHARED / "vifi-clip"
    if not root.is_dir():
        pytest.skip("vifi-clip files absent")
    return load_dataset(name, files_root=root, **kw)


def ezclip(name, **kw):
    root = SHARED / "ez-clip"
    if not root.is_dir():
        pytest.skip("ez-clip files absent")
    return load_dataset(name, files_root=root, **kw)


@needs_shared
@pytest.mark.parametrize(
    "name,n_base,n_novel,n_all,sizes",
    [
        ("kinetics400", 200, 200, 400, (3200, 9944, 9933)),
        ("hmdb51", 26, 25, 51, (416, 780, 750)),
        ("ucf101", 51, 50, 101, (816, 2088, 1695)),
        ("ssv2", 87, 87, 174, (1392, 17562, 7215)),
    ],
)
def test_vifi_base_novel(name, n_base, n_novel, n_all, sizes):
    defn = vifi(name)
    assert len(defn.base_class_names()) == n_base and len(defn.novel_class_names()) == n_novel
    assert set(defn.base_class_names()).isdisjoint(defn.novel_class_names())
    assert set(defn.base_class_names()) | set(defn.novel_class_names()) == set(defn.class_names())
    assert len(defn.class_names()) == n_all
    for seed in (1, 2, 3):
        train, base, novel = defn.base2novel(seed)
        assert (len(train), len(base), len(novel)) == sizes
        assert set(train.videos_per_class().values()) == {16} and len(train.videos_per_class()) == n_base
        assert len(base.class_names) == n_base and len(novel.class_names) == n_novel
        # the ViFi base/novel lists number labels in the base/novel csv's own ids
        assert base.label_space == novel.label_space == train.label_space == "local"


@needs_shared
@pytest.mark.parametrize("name,full_split", [("kinetics400", "val"), ("ucf101", "test1"), ("ssv2", "validation")])
def test_vifi_base_novel_ids_name_the_same_class_as_the_full_lists(name, full_split):
    defn = vifi(name)
    full = defn.split(full_split)
    truth = {path: full.class_names[label] for path, label in full.entries}
    _, base, novel = defn.base2novel(1)
    for vl in (base, novel):
        assert all(vl.class_names[label] == truth[path] for path, label in vl.entries)


@needs_shared
@pytest.mark.parametrize("name,classes", [("hmdb51", 51), ("ucf101", 101), ("ssv2", 174)])
def test_vifi_few_shot_exactly_k(name, classes):
    defn = vifi(name)
    assert defn.few_shot_shots() == [2, 4, 8, 16]
    for k in (2, 4, 8, 16):
        train, test = defn.few_shot(k)
        counts = train.videos_per_class()
        assert len(counts) == classes and set(counts.values()) == {k}
        assert len(train) == k * classes
    assert len(test) == {"hmdb51": 1530, "ucf101": 3783, "ssv2": 24777}[name]


@needs_shared
def test_vifi_zero_shot_targets():
    assert [len(v) for v in vifi("hmdb51").zero_shot_evals().values()] == [1530, 1530, 1530]
    assert [len(v) for v in vifi("ucf101").zero_shot_evals().values()] == [3783, 3734, 3696]
    k600 = vifi("kinetics600")
    evals = k600.zero_shot_evals()
    assert [len(v) for v in evals.values()] == [14084, 13978, 14136]  # records, not newlines
    assert all(len(v.class_names) == 160 for v in evals.values())
    assert len(set().union(*(v.class_names for v in evals.values()))) == 217
    assert k600.zero_shot_exclusive() and k600.zero_shot_source() == "kinetics400"


@needs_shared
def test_vifi_kinetics400_source_train_list_absent():
    defn = vifi("kinetics400")
    assert defn.zero_shot_role() == "source"
    with pytest.raises(HarnessError) as e:
        defn.zero_shot_train()
    one_line(e, "k400_splits/train.txt", "not in muzairkhattak/ViFi-CLIP")
    assert [r.rel for r in defn.missing_files()] == ["datasets_splits/k400_splits/train.txt"]
    hashes = defn.file_hashes("base2novel")
    assert "labels/kinetics_400_base_labels.csv" in hashes and "datasets_splits/base2novel_splits/k400_splits/base_val.txt" in hashes


@needs_shared
def test_ezclip_layout():
    hmdb = ezclip("hmdb51-ezclip")
    test1 = hmdb.zero_shot_evals()["test1"]
    assert len(test1) == 1530 and test1.descriptions and len(test1.descriptions) == 51
    assert {p for p, _ in test1.entries} == {p for p, _ in vifi("hmdb51").split("test1").entries}
    train, base, novel = hmdb.base2novel(1)
    assert (len(train), len(base), len(novel)) == (416, 780, 750)
    assert len(base.class_names) == 26 and len(novel.class_names) == 25
    ucf = ezclip("ucf101-ezclip")
    assert len(ucf.split("test_ds")) == 3841
    k600 = ezclip("kinetics600-ezclip")
    test = k600.zero_shot_evals()["test"]
    assert len(test) == 11462 and len(test.class_names) == 232 and len(test.descriptions) == 232
    assert read_class_names(SHARED / "ez-clip" / "lists" / "kinetics_600_labels_exclusive.csv") == test.class_names


@needs_shared
def test_shared_files_are_not_in_the_repository():
    from harness.paths import REPO_ROOT

    suffixes = {".csv", ".txt", ".json"}
    names = {p.name for p in (SHARED / "vifi-clip").rglob("*") if p.suffix in suffixes}
    names |= {p.name for p in (SHARED / "ez-clip").rglob("*") if p.suffix in suffixes}
    shipped = [p for p in (REPO_ROOT / "protocols").rglob("*") if p.name in names]
    assert shipped == []
    assert read_video_list  # the readers are used by the definitions, the files stay outside
