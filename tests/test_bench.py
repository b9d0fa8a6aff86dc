"""``python -m harness bench``: what it measures and reports (not how fast this machine is — the goals are
checked by running the bench, see README "Performance")."""
from __future__ import annotations

import json

import decord

from harness.engine import bench
from harness.data.fullsize import FRAMES, HEIGHT, WIDTH, ensure_fullsize_clips
from tests.conftest import REPO, cli_in_process


def test_fullsize_clips_are_h264_at_kinetics_resolution(tmp_path):
    (path,) = ensure_fullsize_clips(1, root=tmp_path)
    reader = decord.VideoReader(str(path), num_threads=1)
    assert len(reader) == FRAMES and reader[0].shape == (HEIGHT, WIDTH, 3)
    import av

    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    stamp = path.stat().st_mtime_ns
    assert ensure_fullsize_clips(1, root=tmp_path) == [path] and path.stat().st_mtime_ns == stamp  # cached


def test_data_path_times_decodable_files_and_lists_the_rest(tmp_path):
    video_list, entries = bench._videos(3)
    files = [f"{video_list.video_root}/{p}" for p, _ in entries]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    result = bench.bench_data_path(files + [str(empty), str(text)], frames=4, input_size=32, repeats=2,
                                   label="mixed")
    assert result["clips"] == 3 and sorted(result["skipped"]) == sorted([str(empty), str(text)])
    assert result["pairs"] >= 2 and result["frame_sizes"] == ["64x64"] and result["input_size"] == 32
    assert result["harness_clips_per_s"] > 0 and result["raw_decord_clips_per_s"] > 0
    assert 0 < result["data_path_ratio"] < 10


def test_paired_timing_alternates_and_stops():
    calls = []
    first, second = bench._paired(lambda: calls.append("a"), lambda: calls.append("b"), repeats=3,
                                  min_seconds=0.0)
    assert calls == ["a", "b"] * 3 and len(first) == len(second) == 3
    calls.clear()
    bench._paired(lambda: calls.append("a"), lambda: None, repeats=1, min_seconds=60.0, max_pairs=5)
    assert len(calls) == 5  # short passes repeat until the time budget or the pair cap


def _json_report(out) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bench_json_reports_every_data_path_set_and_the_lowest_ratio(shared_data, capfd):
    clip = shared_data / "mmaction2" / "tests" / "data" / "test.mp4"
    out = cli_in_process(["bench", "--json", "--skip", "overhead", "decoders", "training", "scaling", "--clips", "2",
                          "--repeats", "1", "--min-seconds", "0", "--videos", str(clip)], capfd)
    report = _json_report(out)
    sets = {d["set"]: d for d in report["data_path"]}
    assert set(sets) == {"embedded", "fullsize-synthetic", "videos"}
    assert sets["embedded"]["input_size"] == 32 and sets["fullsize-synthetic"]["input_size"] == 224
    assert sets["videos"]["frame_sizes"] == ["340x256"] and sets["videos"]["clips"] == 1
    assert report["data_path_ratio"] == min(d["data_path_ratio"] for d in sets.values())
    assert report["git_revision"] and report["versions"]["decord"]


def test_bench_overhead_and_training_on_the_toy_backbone(capfd, monkeypatch):
    """In-process (the training figures still come from the fresh `bench --train-one` processes the command
    starts); the overhead's pairs are not timed for 2 s a side, as what is checked here is the report."""
    paired = bench._paired
    monkeypatch.setattr(bench, "_paired", lambda first, second, repeats, min_seconds=2.0, max_pairs=60:
                        paired(first, second, repeats, 0.0, max_pairs))
    monkeypatch.chdir(REPO)  # the --train-one processes run `python -m harness` from here
    out = cli_in_process(["bench", "--json", "--backbone", "toy-vit", "--methods", "clip", "ezclip", "--skip",
                          "data", "decoders", "scaling", "--clips", "2", "--repeats", "1"], capfd)
    report = _json_report(out)
    assert [r["method"] for r in report["overhead"]] == ["clip", "ezclip"]
    assert report["overhead_ratio"] == min(r["overhead_ratio"] for r in report["overhead"]) > 0
    gmacs = {r["method"]: r["gmacs_per_view"] for r in report["overhead"]}
    assert gmacs["ezclip"] > gmacs["clip"] > 0  # temporal prompts and adapters cost compute
    training = {r["method"]: r for r in report["training"]}
    assert training["clip"]["trainable_params"] == 0
    assert training["ezclip"]["trainable_params"] > 0 and training["ezclip"]["step_time_s"] > 0


def test_videos_that_match_nothing_is_one_line_error(tmp_path, capfd):
    out = cli_in_process(["bench", "--skip", "overhead", "decoders", "training", "scaling", "--videos", str(tmp_path / "*.mp4")],
                         capfd)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--videos matched no file" in out.stderr


def test_a_device_torch_cannot_use_is_one_line_error(capfd):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("the error path needs a machine without CUDA; here --device cuda is valid")
    out = cli_in_process(["bench", "--device", "cuda", "--skip", "data", "decoders"], capfd)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
    assert "--device cuda" in out.stderr and "--device cpu" in out.stderr
