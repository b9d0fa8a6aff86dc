"""data.decoder: decord, PyAV and torchcodec give the same frames for the same indices on the embedded videos;
an unknown or unusable decoder is one line; a non-default decoder enters the run id, decord does not."""
from __future__ import annotations

import numpy as np
import pytest

from harness.data.decoders import DECODERS, check_decoder, open_reader, unavailable
from harness.engine.config import build_config, identity_config
from harness.errors import HarnessError


@pytest.fixture(scope="module")
def embedded_videos():
    from harness.data.catalog import load_dataset

    dataset = load_dataset("toy-temporal")
    _, test = dataset.few_shot(2) if hasattr(dataset, "few_shot") else (None, None)
    video_list = test
    return [f"{video_list.video_root}/{path}" for path, _ in video_list.entries[:12]]


@pytest.mark.parametrize("decoder", [d for d in DECODERS if d != "decord"])
def test_every_decoder_gives_decords_frames(decoder, embedded_videos):
    if unavailable(decoder):
        pytest.skip(unavailable(decoder))
    for path in embedded_videos:
        reference, other = open_reader(path, "decord"), open_reader(path, decoder)
        assert len(other) == len(reference) > 8
        indices = np.linspace(0, len(reference) - 1, 8).astype(int)
        assert np.array_equal(other.frames(indices), reference.frames(indices)), path


def test_the_pipeline_decodes_the_same_clip_with_each_decoder(embedded_videos):
    from harness.data.pipeline import DECODE_CACHE, FRAME_COUNTS, DecodeFrames, OpenVideo, SegmentSample

    clips = {}
    for decoder in [d for d in DECODERS if not unavailable(d)]:
        DECODE_CACHE.clear()
        FRAME_COUNTS.clear()
        results = OpenVideo(decoder=decoder).transform(dict(filename=embedded_videos[0]))
        results = SegmentSample(frames=8, test_mode=True).transform(results)
        clips[decoder] = np.stack(DecodeFrames(decoder=decoder).transform(results)["imgs"])
    assert len(clips) >= 2 and all(np.array_equal(c, clips["decord"]) for c in clips.values())


def test_unknown_decoder_is_one_line():
    with pytest.raises(HarnessError, match=r"unknown data.decoder 'pyva' \(did you mean 'pyav'\?\)"):
        build_config("clip", True, ["data.decoder=pyva"])


def test_unusable_decoder_names_the_fix(monkeypatch):
    import harness.data.decoders as decoders

    monkeypatch.setattr(decoders, "unavailable", lambda name: "torchcodec is not installed (pip install x)")
    with pytest.raises(HarnessError, match="data.decoder=torchcodec is not usable here: torchcodec is not installed"):
        check_decoder("torchcodec")


def test_decord_keeps_run_ids_and_another_decoder_changes_them():
    default = identity_config(build_config("clip", True, []))
    assert "decoder" not in default["data"]
    assert identity_config(build_config("clip", True, ["data.decoder=pyav"]))["data"]["decoder"] == "pyav"


def test_bench_compares_the_decoders_on_the_same_clips(embedded_videos):
    from harness.engine.bench_decoders import bench_decoders, bench_workers

    row = bench_decoders(embedded_videos[:3], frames=8, label="embedded", min_seconds=0, repeats=1)
    assert row["clips"] == 3 and set(row["decoders"]) == set(DECODERS)
    for name, figures in row["decoders"].items():
        if unavailable(name):
            assert figures["error"] == unavailable(name)
        else:
            assert figures["clips_per_s"] > 0 and figures["same_frames_as_decord"] == "3/3"
    workers = bench_workers(embedded_videos[:4], frames=8, input_size=32, decoder="decord", workers=(0, 1))
    assert set(workers["clips_per_s_by_workers"]) == {"0", "1"}
    assert all(rate > 0 for rate in workers["clips_per_s_by_workers"].values())


def test_num_workers_per_device():
    from harness.engine.training import resolve_num_workers

    assert resolve_num_workers(3, cuda=True) == 3  # an explicit count is kept
    assert resolve_num_workers(-1, cuda=False, cpus=64) == 0
    assert resolve_num_workers(-1, cuda=True, cpus=16, local_processes=1) == 8
    assert resolve_num_workers(-1, cuda=True, cpus=16, local_processes=4) == 3
    assert resolve_num_workers(-1, cuda=True, cpus=2, local_processes=2) == 1
    assert build_config("clip", True, [])["data"]["num_workers"] == 0  # embedded: unchanged (and its run ids)
    assert build_config("clip", False, [])["data"]["num_workers"] == -1
    assert build_config("clip", False, ["data.num_workers=2"])["data"]["num_workers"] == 2
    with pytest.raises(HarnessError, match="data.num_workers must be ≥ 0, or -1"):
        build_config("clip", True, ["data.num_workers=-3"])
