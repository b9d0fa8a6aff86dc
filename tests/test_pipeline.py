"""Decode pipeline: every odd file decodes to the right shape or becomes a counted skip, never a crash."""
import numpy as np
import pytest

from badvideos import make_bad_videos
from harness.data.pipeline import DECODE_CACHE, FRAME_COUNTS, VideoListDataset, build_pipeline, read_skip_log


@pytest.fixture(autouse=True)
def _cold_cache():
    DECODE_CACHE.clear()
    FRAME_COUNTS.clear()
    yield


def _dataset(folder, names, train=False, skip_log=None, frames=8, size=32):
    entries = [(name, i % 3) for i, name in enumerate(names)]
    return VideoListDataset(entries, folder, build_pipeline(frames, size, train=train), test_mode=not train,
                            skip_log=skip_log, placeholder_shape=(frames, 3, size, size))


def test_bad_and_odd_files_decode_or_are_skipped(tmp_path):
    expected = make_bad_videos(tmp_path / "videos")
    log = tmp_path / "skips.tsv"
    dataset = _dataset(tmp_path / "videos", sorted(expected), skip_log=log)
    for index, name in enumerate(sorted(expected)):
        sample = dataset[index]
        skipped = sample["data_samples"].metainfo.get("skipped", False)
        assert skipped != expected[name], name
        assert tuple(sample["inputs"].shape) == (8, 3, 32, 32), name
    skipped = {row["video"] for row in read_skip_log(log)}
    assert skipped == {name for name, ok in expected.items() if not ok}


def test_skip_reasons_are_whole_in_the_log_and_the_record(tmp_path):
    """The user report: reasons were cut mid-word (at 200 characters). The decoders' whole messages reach both
    the skip log (training) and the placeholder the metric records (evaluation), on one line."""
    expected = make_bad_videos(tmp_path / "videos")
    bad = sorted(name for name, ok in expected.items() if not ok)
    log = tmp_path / "skips.tsv"
    dataset = _dataset(tmp_path / "videos", bad, skip_log=log)
    recorded = {name: dataset[i]["data_samples"].metainfo["skip_reason"] for i, name in enumerate(bad)}
    logged = {row["video"]: row["reason"] for row in read_skip_log(log)}
    assert logged == recorded
    for name in ("not_a_video.mp4", "truncated.mp4"):
        reason = recorded[name]
        assert "decord could not open it" in reason and "PyAV could not decode it" in reason, reason
        # PyAV's message quotes the whole file path and ends with FFmpeg's own diagnosis (past 200 characters,
        # where the reason used to be cut)
        assert f"'{tmp_path / 'videos' / name}'; last error log: " in reason and reason.endswith(")"), reason
        assert len(reason) > 200
        assert "\n" not in reason and "\t" not in reason


def test_skip_log_keeps_long_multiline_reasons_and_odd_paths(tmp_path):
    log = tmp_path / "skips.tsv"
    dataset = _dataset(tmp_path, ["unused.mp4"], skip_log=log)
    long_reason = "decoder said: " + " ".join(f"word{i}" for i in range(200)) + "\nsecond line\twith a tab"
    dataset._log_skip("dir with\ttab/clip.mp4", long_reason)
    dataset._log_skip("plain.mp4", "file is empty (0 bytes)")
    dataset._log_skip("plain.mp4", "a later reason for the same video")
    rows = read_skip_log(log)
    assert [row["video"] for row in rows] == ["dir with\ttab/clip.mp4", "plain.mp4"]
    assert rows[0]["reason"] == long_reason.replace("\n", "\\n").replace("\t", "\\t")
    assert rows[0]["reason"].endswith("word199\\nsecond line\\twith a tab")
    assert rows[1]["reason"] == "file is empty (0 bytes)"


def test_training_replaces_unreadable_videos_and_logs_them(tmp_path):
    expected = make_bad_videos(tmp_path / "videos")
    log = tmp_path / "skips.tsv"
    dataset = _dataset(tmp_path / "videos", ["zero_bytes.mp4", "full.mp4"], train=True, skip_log=log)
    sample = dataset[0]  # the unreadable one: another video is drawn instead
    assert tuple(sample["inputs"].shape) == (8, 3, 32, 32)
    assert [row["video"] for row in read_skip_log(log)] == ["zero_bytes.mp4"]
    assert expected["full.mp4"]


def test_test_views_are_decoded_once(tmp_path, monkeypatch):
    import harness.data.pipeline as pipeline

    make_bad_videos(tmp_path / "videos")
    dataset = _dataset(tmp_path / "videos", ["full.mp4"])
    opened = []
    original = pipeline._open_reader
    monkeypatch.setattr(pipeline, "_open_reader", lambda path, *a: opened.append(path) or original(path, *a))
    first = dataset[0]["inputs"]
    assert len(opened) == 1
    second = dataset[0]["inputs"]
    assert len(opened) == 1, "a repeated evaluation of the same video must not decode it again"
    assert np.array_equal(first.numpy(), second.numpy())


def test_segment_sampling_centres_at_test():
    from harness.data.pipeline import SegmentSample

    out = SegmentSample(frames=4, clips=1, test_mode=True).transform(dict(total_frames=40))
    assert out["frame_inds"].tolist() == [5, 15, 25, 35]
    out = SegmentSample(frames=4, clips=2, test_mode=True).transform(dict(total_frames=40))
    assert out["frame_inds"].tolist() == [2, 12, 22, 32, 7, 17, 27, 37]
    out = SegmentSample(frames=8, test_mode=True).transform(dict(total_frames=1))
    assert out["frame_inds"].tolist() == [0] * 8


@pytest.mark.shared_data
def test_real_clips_and_the_corrupted_file(shared_data, tmp_path):
    import json

    manifest = json.loads((shared_data / "videos_manifest.json").read_text())
    entries = manifest if isinstance(manifest, list) else manifest.get("videos", manifest.get("files", []))
    paths = [e["path"] for e in entries if isinstance(e, dict) and "path" in e]
    assert len(paths) >= 15
    names = [p.split("shared/data/", 1)[-1] for p in paths]
    log = tmp_path / "skips.tsv"
    dataset = _dataset(shared_data, names, skip_log=log)
    for index in range(len(names)):
        assert tuple(dataset[index]["inputs"].shape) == (8, 3, 32, 32)
    skipped = {row["video"] for row in read_skip_log(log)}
    assert skipped == {n for n in names if n.endswith("corrupted.mp4")}


@pytest.mark.parametrize("shape, scale, keep_ratio", [
    ((64, 64), (-1, 36), True),         # embedded videos, toy CLIP input
    ((256, 340), (-1, 256), True),      # mmaction2-prepared Kinetics: unchanged size, no work
    ((240, 426), (-1, 256), True),      # upscale, non-integer factor
    ((1080, 1920), (-1, 256), True),    # downscale
    ((17, 13), (-1, 256), True),        # odd, portrait
    ((200, 300), (224, 224), False),    # training's fixed-size resize
])
def test_frame_resize_is_mmaction2_resize_exactly(shape, scale, keep_ratio):
    from mmaction.datasets.transforms import Resize

    from harness.data.pipeline import FrameResize

    imgs = list(np.random.default_rng(0).integers(0, 256, (3, *shape, 3), dtype=np.uint8))
    ours = FrameResize(scale=scale, keep_ratio=keep_ratio)(dict(imgs=list(imgs), img_shape=shape))
    theirs = Resize(scale=scale, keep_ratio=keep_ratio)(dict(imgs=list(imgs), img_shape=shape))
    assert ours["img_shape"] == theirs["img_shape"]
    assert np.array_equal(ours["scale_factor"], theirs["scale_factor"])
    assert all(np.array_equal(a, b) for a, b in zip(ours["imgs"], theirs["imgs"]))


def test_segment_indices_are_shared_read_only_and_training_stays_random():
    from harness.data.pipeline import SegmentSample

    sampler = SegmentSample(frames=4, clips=2, test_mode=True)
    first = sampler.transform(dict(total_frames=40))["frame_inds"]
    assert first is sampler.transform(dict(total_frames=40))["frame_inds"]  # computed once per frame count
    with pytest.raises(ValueError):
        first[0] = 3
    train = SegmentSample(frames=4)
    np.random.seed(0)
    draws = {tuple(train.transform(dict(total_frames=400))["frame_inds"]) for _ in range(5)}
    assert len(draws) == 5 and train.transform(dict(total_frames=400))["num_clips"] == 4
