"""``bench`` decoders section: decord, PyAV and torchcodec side by side on the same files and frame indices
(the test sampling a run uses: ``frames`` segment centres), cold (each file opened afresh), and the harness's
decode + transform pipeline against ``data.num_workers`` (the figures behind the default worker count).

Sets: the full-size synthetic clips (:mod:`harness.data.fullsize`), the real clips of ../shared/data (when
present; files no decoder opens are listed, not timed) and ``--videos``.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".gif")


def shared_clips() -> list[str]:
    """The real clips of ../shared/data (docs: ../shared/docs/data.md §2), sorted; [] when absent."""
    from ..paths import shared_data_dir

    root = shared_data_dir()
    if root is None:
        return []
    return sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


def _indices(total: int, frames: int) -> np.ndarray:
    from ..data.pipeline import SegmentSample

    return SegmentSample(frames=frames, test_mode=True).transform(dict(total_frames=total))["frame_inds"]


def _decode_all(paths, decoder: str, frames: int) -> list[np.ndarray]:
    from ..data.decoders import open_reader

    out = []
    for path in paths:
        reader = open_reader(path, decoder)
        out.append(reader.frames(_indices(len(reader), frames)))
    return out


def _usable(paths, frames: int) -> tuple[list[str], list[str]]:
    """Files every available decoder decodes at the sampled indices (the comparison is on the same files)."""
    from ..data.decoders import DECODERS, unavailable

    good, skipped = [], []
    for path in paths:
        try:
            for decoder in DECODERS:
                if not unavailable(decoder):
                    _decode_all([path], decoder, frames)
        except Exception:
            skipped.append(path)
        else:
            good.append(path)
    return good, skipped


def bench_decoders(paths, frames: int, label: str, min_seconds: float = 2.0, repeats: int = 3) -> dict:
    """clips/s per decoder (median of alternating passes) and whether each gives decord's frames exactly."""
    from ..data.decoders import DECODERS, unavailable

    paths, skipped = _usable(list(paths), frames)
    row = dict(set=label, clips=len(paths), frames=frames, skipped=skipped, decoders={})
    if not paths:
        row["error"] = "no file every decoder can decode"
        return row
    available = [d for d in DECODERS if not unavailable(d)]
    reference = _decode_all(paths, "decord", frames) if "decord" in available else None
    times = {d: [] for d in available}
    for decoder in available:
        _decode_all(paths, decoder, frames)  # warm-up: imports, page cache
    while min(len(t) for t in times.values()) < repeats or min(sum(t) for t in times.values()) < min_seconds:
        for decoder in available:
            began = time.perf_counter()
            _decode_all(paths, decoder, frames)
            times[decoder].append(time.perf_counter() - began)
        if len(times[available[0]]) >= 30:
            break
    for decoder in DECODERS:
        if decoder not in available:
            row["decoders"][decoder] = dict(error=unavailable(decoder))
            continue
        same = None
        if reference is not None:
            decoded = _decode_all(paths, decoder, frames)
            same = sum(np.array_equal(a, b) for a, b in zip(decoded, reference))
        row["decoders"][decoder] = dict(clips_per_s=round(len(paths) / statistics.median(times[decoder]), 2),
                                        same_frames_as_decord=f"{same}/{len(paths)}" if same is not None else None,
                                        passes=len(times[decoder]))
    return row


def bench_workers(paths, frames: int, input_size: int, decoder: str, workers=(0, 1, 2), batch: int = 4) -> dict:
    """clips/s of the harness's test pipeline (cold decode cache) at each ``data.num_workers``."""
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader

    from ..data.pipeline import DECODE_CACHE, FRAME_COUNTS, VideoListDataset, build_pipeline

    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    entries = [(os.path.relpath(p, root), 0) for p in paths]
    dataset = VideoListDataset(entries, root, build_pipeline(frames, input_size, train=False, decoder=decoder),
                               test_mode=True, placeholder_shape=(frames, 3, input_size, input_size))
    rates = {}
    for count in workers:
        best = None
        for _ in range(2):
            DECODE_CACHE.clear()
            FRAME_COUNTS.clear()
            began = time.perf_counter()
            for _ in DataLoader(dataset, batch_size=batch, num_workers=count, collate_fn=pseudo_collate):
                pass
            seconds = time.perf_counter() - began
            best = seconds if best is None else min(best, seconds)
        rates[str(count)] = round(len(paths) / best, 2)
    return dict(decoder=decoder, clips=len(paths), input_size=input_size, clips_per_s_by_workers=rates,
                cores=os.cpu_count())
