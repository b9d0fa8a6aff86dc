"""The embedded benchmark: determinism, atomic generation, the roles' properties, readable videos."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from harness.data import embedded
from harness.data.embedded import read_classes, read_list


def _hashes(root: Path, suffixes=(".txt", ".csv", ".json")) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.suffix in suffixes}


@pytest.fixture(scope="session")
def bench() -> Path:
    """The full benchmark in the test cache (generated once, ~10 s)."""
    return embedded.ensure_embedded()


def test_mini_generation_is_deterministic(tmp_path):
    a = embedded.ensure_embedded(tmp_path / "a", sizes=embedded.MINI)
    b = embedded.ensure_embedded(tmp_path / "b", sizes=embedded.MINI)
    lists_a, lists_b = _hashes(a), _hashes(b)
    assert lists_a == lists_b and len(lists_a) > 40
    assert _hashes(a, (".mp4",)) == _hashes(b, (".mp4",))  # OpenCV's mpeg4 encoder is deterministic too
    manifest = json.loads((a / "MANIFEST.json").read_text())
    assert manifest["generator_version"] == embedded.GENERATOR_VERSION and manifest["sizes"] == "mini"
    assert all(lists_a[rel] == sha for rel, sha in manifest["sha256"].items())


def test_generation_is_atomic_and_cached(tmp_path):
    root = tmp_path / "bench"
    (tmp_path / ".bench.tmp-999999").mkdir()  # debris of a killed generation
    assert embedded.ensure_embedded(root, sizes=embedded.MINI) == root
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bench.lock", "bench"]
    stamp = (root / "MANIFEST.json").stat().st_mtime_ns
    embedded.ensure_embedded(root, sizes=embedded.MINI)
    assert (root / "MANIFEST.json").stat().st_mtime_ns == stamp
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("not a benchmark")
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="MANIFEST"):
        embedded.ensure_embedded(foreign, sizes=embedded.MINI)


def test_manifest_matches_files(bench):
    manifest = json.loads((bench / "MANIFEST.json").read_text())
    assert manifest["sizes"] == "full" and manifest["seed"] == embedded.SEED
    assert manifest["sha256"] == {k: v for k, v in _hashes(bench, (".txt", ".csv")).items()}
    assert manifest["video_bytes"] < 50e6
    assert manifest["videos"] == len(list(bench.rglob("*.mp4")))


def test_every_video_is_distinct(bench):
    """No video is repeated under another name (e.g. a test video equal to a training video)."""
    digests = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in bench.rglob("*.mp4"))
    assert digests.most_common(1)[0][1] == 1


def test_class_sets(bench):
    names = {ds: read_classes(bench / ds / "classes.csv") for ds in embedded.DATASETS}
    assert len(names["toy-source"]) >= 24
    assert len(names["toy-target-a"]) == 12 and len(names["toy-target-b"]) == 12
    assert len(names["toy-temporal"]) >= 8 and len(names["toy-temporal"]) % 2 == 0
    every = [n for ds in embedded.DATASETS for n in names[ds]]
    assert len(every) == len(set(every)), "class names must be unique across the benchmark"
    for name in every:
        assert re.fullmatch(r"[a-z]+( [a-z]+)+", name), f"class name {name!r} is not a phrase"
    combos = {ds: {(s.colour, s.shape) for s in specs} for ds, specs in embedded.appearance_classes().items()}
    assert not combos["toy-source"] & combos["toy-target-a"]
    assert not combos["toy-source"] & combos["toy-target-b"]
    assert not combos["toy-target-a"] & combos["toy-target-b"]
    for ds, pairs in combos.items():  # targets are new combinations of words the source also uses
        assert {c for c, _ in pairs} <= {c for c, _ in combos["toy-source"]}
        assert {s for _, s in pairs} <= {s for _, s in combos["toy-source"]}
    pairs = embedded.temporal_pair_ids(names["toy-temporal"])
    assert sorted(Counter(pairs).values()) == [2] * (len(pairs) // 2)


def _per_class(entries) -> Counter:
    return Counter(label for _, label in entries)


def test_source_and_temporal_counts(bench):
    for ds, lo, hi in (("toy-source", 16, 40), ("toy-temporal", 16, 40)):
        n = len(read_classes(bench / ds / "classes.csv"))
        train, test = read_list(bench / ds / "train.txt"), read_list(bench / ds / "test.txt")
        counts = _per_class(train)
        assert sorted(counts) == list(range(n))
        assert lo <= min(counts.values()) and max(counts.values()) <= hi
        assert len(set(counts.values())) >= n // 2, "training videos per class must vary"
        assert set(_per_class(test).values()) == {embedded.FULL.source_test if ds == "toy-source"
                                                   else embedded.FULL.temporal_test}
        assert not {p for p, _ in train} & {p for p, _ in test}


def test_base_to_novel_files(bench):
    for ds in ("toy-source", "toy-temporal"):
        names = read_classes(bench / ds / "classes.csv")
        base, novel = read_classes(bench / ds / "base_classes.csv"), read_classes(bench / ds / "novel_classes.csv")
        assert len(base) == (len(names) + 1) // 2 and len(base) + len(novel) == len(names)
        assert not set(base) & set(novel)
        assert base == [n for n in names if n in base]  # ids in full-id order
        counts = _per_class(read_list(bench / ds / "train.txt"))
        full = {n: i for i, n in enumerate(names)}
        assert min(counts[full[n]] for n in base) >= max(counts[full[n]] for n in novel)
        draws = []
        for seed in (1, 2, 3):
            entries = read_list(bench / ds / f"fs_base_s{seed}_train.txt")
            assert set(_per_class(entries).values()) == {16} and len(_per_class(entries)) == len(base)
            draws.append({p for p, _ in entries})
        assert draws[0] != draws[1] != draws[2]
        for split, subset in (("base_val", base), ("novel_val", novel)):
            entries = read_list(bench / ds / f"{split}.txt")
            assert set(_per_class(entries)) == set(range(len(subset)))
            for path, label in entries:  # the label is the right class in the subset's own ids
                assert Path(path).name.startswith(subset[label].replace(" ", "_") + "_")


def test_target_a_splits_and_few_shot(bench):
    ds = bench / "toy-target-a"
    tests = []
    for s in (1, 2, 3):
        train, test = read_list(ds / f"train{s}.txt"), read_list(ds / f"test{s}.txt")
        assert set(_per_class(test).values()) == {embedded.FULL.target_a_test} and min(_per_class(train).values()) >= 16
        assert not {p for p, _ in train} & {p for p, _ in test}
        tests.append({p for p, _ in test})
    assert tests[0] != tests[1] and tests[1] != tests[2] and tests[0] != tests[2]
    pool = {p for p, _ in read_list(ds / "train1.txt")}
    for k in (2, 4, 8, 16):
        entries = read_list(ds / f"train_few_shot_{k}.txt")
        assert set(_per_class(entries).values()) == {k} and len(_per_class(entries)) == 12
        assert {p for p, _ in entries} <= pool
    temporal = read_list(bench / "toy-temporal" / "train_few_shot_16.txt")
    assert set(_per_class(temporal).values()) == {16}


def test_target_b_class_subsets(bench):
    ds = bench / "toy-target-b"
    names = read_classes(ds / "classes.csv")
    seen = Counter()
    for s in (1, 2, 3):
        subset = read_classes(ds / f"split{s}_classes.csv")
        assert len(subset) == 8 and set(subset) <= set(names)
        seen.update(subset)
        entries = read_list(ds / f"split{s}.txt")
        assert set(_per_class(entries)) == set(range(8))
        for path, label in entries:
            assert Path(path).name.startswith(subset[label].replace(" ", "_") + "_")
    assert set(seen) == set(names) and set(seen.values()) == {2}


def test_descriptions_fit_the_toy_context(bench):
    import csv

    import open_clip

    from harness.models import toyclip
    from harness.data.formats import read_descriptions

    toyclip.register_toy_config()
    tokenizer = open_clip.get_tokenizer(toyclip.TOY_MODEL_NAME)
    for ds in embedded.DATASETS:
        names = read_classes(bench / ds / "classes.csv")
        with open(bench / ds / "descriptions.csv", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["SNo", "Class Name", "GPT3 discription"]
        assert [r[1] for r in rows[1:]] == names
        assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, len(names) + 1)]
        for _, name, text in rows[1:]:
            assert len(text.split()) <= 25
            assert len(tokenizer.encode(text)) + 2 <= tokenizer.context_length, text
        assert list(read_descriptions(bench / ds / "descriptions.csv")) == names  # the harness's own reader


def test_definitions_load_and_check(bench):
    from harness.data.catalog import load_dataset

    for name in embedded.DATASETS:
        definition = load_dataset(name)
        assert definition.kind == "embedded"
        for protocol in definition.protocols():
            definition.check(protocol)
    k600_like = load_dataset("toy-target-b").zero_shot_evals()
    assert [len(v.class_names) for v in k600_like.values()] == [8, 8, 8]


def test_compared_lists_are_large_enough_for_mcnemar(bench):
    """Every list two methods are compared on holds ≥ 300 videos (the power argument in the module docstring)."""
    lists = ["toy-source/base_val.txt", "toy-source/novel_val.txt", "toy-temporal/test.txt",
             *(f"toy-target-a/test{s}.txt" for s in (1, 2, 3)), *(f"toy-target-b/split{s}.txt" for s in (1, 2, 3))]
    sizes = {rel: len(read_list(bench / rel)) for rel in lists}
    assert min(sizes.values()) >= 300, sizes


def test_test_sampling_is_closed_under_time_reversal():
    """The test frames of a video, reversed, are the test frames of its reversal: a frame average then cannot
    separate a temporal pair by which frames it happened to see (16-frame videos failed this)."""
    from harness.data.pipeline import SegmentSample

    inds = SegmentSample._indices(embedded.FRAMES, 8, 1, "test")
    assert sorted(embedded.FRAMES - 1 - inds) == sorted(inds.tolist())
    assert len(set(inds.tolist())) == 8


def test_decord_reads_the_videos(bench):
    import decord

    for ds in embedded.DATASETS:
        lists = sorted((bench / ds).glob("*.txt"))
        paths = sorted({p for f in lists for p, _ in read_list(f)})
        for rel in paths[:: max(1, len(paths) // 5)]:
            reader = decord.VideoReader(str(bench / rel))
            assert len(reader) == embedded.FRAMES
            frames = reader.get_batch(list(range(0, embedded.FRAMES, 3))).asnumpy()
            assert frames.shape[1:] == (embedded.SIZE, embedded.SIZE, 3)
            assert frames.std() > 5  # not blank


def test_temporal_pairs_need_time_order(bench):
    """A linear probe on the frame average cannot tell a motion from its reversal; one on (first half, second
    half) averages can. (This probe also caught test videos that repeated training videos.)"""
    import cv2
    import decord
    import numpy as np

    def load(split):
        feats, labels = {"mean": [], "halves": []}, []
        for rel, label in read_list(bench / "toy-temporal" / f"{split}.txt"):
            video = decord.VideoReader(str(bench / rel)).get_batch(list(range(embedded.FRAMES))).asnumpy()
            small = np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in video]).astype(np.float32)
            contrast = np.abs(small - small.mean(axis=(1, 2), keepdims=True)).sum(-1)  # (T, 16, 16)
            half = len(contrast) // 2
            for kind, f in (("mean", contrast.mean(0)),
                            ("halves", np.concatenate([contrast[:half].mean(0), contrast[half:].mean(0)]))):
                f = f.ravel()
                feats[kind].append(f / (np.linalg.norm(f) + 1e-6))
            labels.append(label)
        return {k: np.array(v) for k, v in feats.items()}, np.array(labels)

    train, y_train = load("train")
    test, y_test = load("test")
    pair = np.array(embedded.temporal_pair_ids(read_classes(bench / "toy-temporal" / "classes.csv")))
    direction = {}
    for kind in ("mean", "halves"):
        a, b = train[kind], test[kind]
        w = np.linalg.solve(a.T @ a + 1e-2 * np.eye(a.shape[1]), a.T @ np.eye(len(pair))[y_train])
        pred = (b @ w).argmax(1)
        in_pair = pair[pred] == pair[y_test]
        direction[kind] = (pred == y_test)[in_pair].mean()
    assert direction["mean"] < 0.7 and direction["halves"] > 0.8, direction
