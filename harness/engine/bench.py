"""``python -m harness bench``: what the harness costs beyond the model and the decoder, measured side by side
in one process on the same inputs (absolute times on shared machines are noisy; the goals are ratios).

* overhead — evaluation clips/s through the harness (dataset → transforms → collate → preprocessor →
  method → per-video metric, decode cache warm) ÷ the bare method forward on the same pre-decoded,
  pre-normalised tensors, per method (goal ≥ 0.95);
* data path — clips/s of the harness's decode + transform pipeline (default workers, cold cache) ÷ raw decord
  decoding of the same frame indices (goal ≥ 0.8), for each pairing of videos and input size a run uses: the
  embedded 64×64 videos at the embedded toy CLIP's input, full-size synthetic H.264 clips (340×256, 300
  frames; :mod:`harness.data.fullsize`) at the bench backbone's input, and ``--videos`` files if given;
  ``data_path_ratio`` is the lowest;
* training — step time and peak memory per method at the same backbone, frames and batch (each method in a
  fresh subprocess, so peak memory is its own);
* scaling — evaluation time against frames (8 → 16 → 32) and against the number of classes.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from ..errors import HarnessError

METHODS = ("clip", "ezclip", "actionclip", "xclip", "vificlip")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="harness overhead, data path, training cost and scaling",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--backbone", default="ViT-B-32", help="open_clip architecture (random init)")
    from ..cli import non_negative_float, positive_int

    parser.add_argument("--frames", type=positive_int, default=8)
    parser.add_argument("--device", default="cpu", help="torch device for the model figures (cpu, cuda, cuda:1)")
    parser.add_argument("--clips", type=positive_int, default=8, help="videos per measurement")
    parser.add_argument("--batch-size", type=positive_int, default=2, help="training batch for step time / memory")
    parser.add_argument("--repeats", type=positive_int, default=3, help="alternating repeats; the median ratio is kept")
    parser.add_argument("--videos", nargs="+", default=None, metavar="PATH_OR_GLOB",
                        help="also measure the data path on these video files (e.g. a sample of your dataset)")
    parser.add_argument("--min-seconds", type=non_negative_float, default=2.0,
                        help="data path: repeat short passes until each side has run this long (median of pairs)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "data", "decoders", "training",
                                                                      "scaling"])
    parser.add_argument("--output", default=None, help="also write the JSON here (e.g. results/bench.json)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--train-one", default=None, help=argparse_suppress())
    parser.set_defaults(func=handle)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


# ----------------------------------------------------------------------------------------- inputs
def _videos(count: int):
    """The first ``count`` test videos of the embedded toy-target-a set (real mp4 files)."""
    from ..data.catalog import load_dataset

    dataset = load_dataset("toy-target-a")
    video_list = next(iter(dataset.zero_shot_evals().values()))
    entries = video_list.entries[:count]
    return video_list, entries


def _build(method: str, backbone: str, frames: int, device: str = "cpu"):
    from .config import build_config
    from ..models.backbones import is_embedded_backbone
    from ..models.methods_registry import method_class

    config = build_config(method, embedded=is_embedded_backbone(backbone), backbone=backbone,
                          cfg_options=[f"model.frames={frames}"])
    model = method_class(method)(backbone=config["backbone"], **config["model"]).eval()
    return model.to(_device(device)), config


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HarnessError(f"--device {name!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HarnessError(f"--device {name}: torch sees no CUDA device here; run on a GPU machine or use --device cpu")
    return device


def _sync() -> None:
    """Wait for queued GPU work, so wall-clock timings cover it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _dataset(entries, root, frames: int, size: int):
    """The test dataset a run builds (once per evaluation) for these videos."""
    from ..data.pipeline import VideoListDataset, build_pipeline

    return VideoListDataset(entries, root, build_pipeline(frames, size, train=False), test_mode=True,
                            placeholder_shape=(frames, 3, size, size))


def _cold():
    from ..data.pipeline import DECODE_CACHE, FRAME_COUNTS

    DECODE_CACHE.clear()
    FRAME_COUNTS.clear()


# ----------------------------------------------------------------------------------------- data path
def _decodable(paths, sampler) -> tuple[list[str], list[str], list[str]]:
    """Split files into those decord decodes (the raw baseline needs decord) and the rest (listed, not timed:
    GIFs, corrupt files); also the frame sizes (W×H) of the decodable ones."""
    from ..data.pipeline import _open_decord

    good, skipped, sizes = [], [], set()
    for path in paths:
        try:  # decord raises its own error types besides the harness's VideoDecodeError
            reader = _open_decord(str(path))
            frames = reader.frames(sampler.transform(dict(total_frames=len(reader)))["frame_inds"])
        except Exception:
            skipped.append(str(path))
            continue
        good.append(str(path))
        height, width = frames.shape[1:3]
        sizes.add((height, width))
    return good, skipped, [f"{w}x{h}" for h, w in sorted(sizes)]


def bench_data_path(paths, frames: int, input_size: int, repeats: int, label: str, min_seconds: float = 2.0) -> dict:
    """clips/s of the harness pipeline (default workers, cold decode cache) ÷ raw decord on the same frames."""
    import decord
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader

    from .config import ENGINE_DEFAULTS
    from ..data.pipeline import SegmentSample

    sampler = SegmentSample(frames=frames, test_mode=True)
    paths, skipped, frame_sizes = _decodable(paths, sampler)
    if not paths:
        return dict(set=label, error="no file decord can decode", skipped=skipped)
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    entries = [(os.path.relpath(p, root), 0) for p in paths]
    workers = ENGINE_DEFAULTS["data"]["num_workers"]
    dataset = _dataset(entries, root, frames, input_size)

    def raw():
        for path in paths:
            reader = decord.VideoReader(path, num_threads=1)
            inds = sampler.transform(dict(total_frames=len(reader)))["frame_inds"]
            reader.get_batch(list(map(int, inds))).asnumpy()

    def harness_path():
        _cold()
        for _ in DataLoader(dataset, batch_size=8, num_workers=workers, collate_fn=pseudo_collate):
            pass

    raw(), harness_path()  # warm-up: first-touch costs (page cache, imports) hit neither timing
    raw_times, harness_times = _paired(raw, harness_path, repeats, min_seconds)
    clips = len(paths)
    raw_rate, harness_rate = clips / statistics.median(raw_times), clips / statistics.median(harness_times)
    return dict(set=label, clips=clips, frame_sizes=frame_sizes, frames=frames,
                input_size=input_size, num_workers=workers, raw_decord_clips_per_s=round(raw_rate, 2),
                harness_clips_per_s=round(harness_rate, 2),
                data_path_ratio=round(statistics.median(r / h for r, h in zip(raw_times, harness_times)), 3),
                pairs=len(raw_times), skipped=skipped)


def _paired(first, second, repeats: int, min_seconds: float = 2.0, max_pairs: int = 60):
    """Alternate the two timings; at least ``repeats`` pairs and, for short passes, enough pairs to spend
    ``min_seconds`` on each side, so a scheduler hiccup on a shared machine moves one pair, not the ratio
    (the ratio reported is the median of the per-pair ratios)."""
    times_first, times_second = [], []
    while len(times_first) < max_pairs and (len(times_first) < repeats or sum(times_first) < min_seconds):
        times_first.append(_timed(first))
        times_second.append(_timed(second))
    return times_first, times_second


def data_path_sets(args) -> list[tuple[str, list, int]]:
    """(label, files, input size) pairs as runs use them: the embedded videos at the embedded backbone's
    input size, full-size H.264 clips at the bench backbone's, and the user's own files (``--videos``)."""
    from ..models.backbones import create_clip, preprocess_cfg
    from ..data.fullsize import ensure_fullsize_clips

    files = user_videos(args.videos) if args.videos else []
    video_list, entries = _videos(args.clips * 3)
    embedded_size = preprocess_cfg(create_clip(name="toy-vit", pretrained="none"))["size"]
    size = preprocess_cfg(create_clip(name=args.backbone, pretrained="none"))["size"]
    sets = [("embedded", [f"{video_list.video_root}/{p}" for p, _ in entries], embedded_size),
            ("fullsize-synthetic", ensure_fullsize_clips(args.clips), size)]
    if files:
        sets.append(("videos", files, size))
    return sets


def _timed(function) -> float:
    _sync()
    started = time.perf_counter()
    function()
    _sync()
    return time.perf_counter() - started


# ----------------------------------------------------------------------------------------- overhead
def bench_overhead(method: str, backbone: str, frames: int, clips: int, repeats: int, device: str = "cpu") -> dict:
    from mmengine.dataset import pseudo_collate

    from ..models.feature_cache import FeatureCache
    from .metrics import VideoPredictionMetric
    from ..models.profile import profile_method

    model, config = _build(method, backbone, frames)
    gmacs = profile_method(method, method=model)["gmacs_per_view"]  # counted on the CPU, before the move
    model.to(_device(device))
    video_list, entries = _videos(clips)
    model.set_class_names(video_list.class_names, video_list.descriptions)
    dataset = _dataset(entries, video_list.video_root, model.frames, model.input_size)
    batch = config["eval"]["batch_size"]
    batches = [pseudo_collate([dataset[i] for i in range(s, min(s + batch, len(dataset)))])
               for s in range(0, len(dataset), batch)]
    tensors = [model.data_preprocessor(b)["inputs"] for b in batches]  # pre-decoded, pre-normalised

    def bare():
        with torch.no_grad():
            for videos in tensors:
                model.class_scores(videos[:, 0])

    cache = FeatureCache()

    def harness_path():
        # as a run evaluates (eval.feature_cache on by default): every batch hashed, cold cache so nothing is
        # reused — reuse across evaluations is a separate saving, not the harness's per-evaluation cost
        cache.clear()
        model.feature_cache = cache
        metric = VideoPredictionMetric()
        with torch.no_grad():
            for start in range(0, len(dataset), batch):  # decode cache is warm: transforms still run
                data = pseudo_collate([dataset[i] for i in range(start, min(start + batch, len(dataset)))])
                metric.process(data, model.test_step(data))
        metric.compute_metrics(metric.results)

    with torch.no_grad():
        model.all_template_features()  # text features once per class set, outside both timings
        model.weights_fingerprint()  # once per evaluation (amortised over its whole list), outside both timings
    bare()  # warm-up
    bare_times, harness_times = _paired(bare, harness_path, repeats)
    bare_rate, harness_rate = clips / statistics.median(bare_times), clips / statistics.median(harness_times)
    return dict(method=method, bare_clips_per_s=round(bare_rate, 3), harness_clips_per_s=round(harness_rate, 3),
                overhead_ratio=round(statistics.median(b / h for b, h in zip(bare_times, harness_times)), 3),
                pairs=len(bare_times), gmacs_per_view=gmacs, device=str(model._device()))


# ----------------------------------------------------------------------------------------- training
def bench_training_one(method: str, backbone: str, frames: int, batch_size: int, steps: int = 4,
                       device: str = "cpu") -> dict:
    """Step time (forward + backward + optimizer) and peak memory above the built model, in this process
    (process RSS on the CPU; allocated device memory on a GPU)."""
    model, config = _build(method, backbone, frames, device)
    on_gpu = model._device().type == "cuda"
    model.train()
    model.set_class_names([f"class {i}" for i in range(8)], {f"class {i}": f"class {i}" for i in range(8)})
    groups = model.param_groups(1e-5, 0.0)
    optimizer = torch.optim.AdamW(groups, lr=1e-5) if groups else None
    size = model.input_size
    generator = torch.Generator().manual_seed(0)
    videos = torch.randn(batch_size, frames, 3, size, size, generator=generator).to(model._device())
    labels = (torch.arange(batch_size) % 8).to(model._device())
    before = _memory_mb(on_gpu, reset=True)
    times = []
    for _ in range(steps):
        _sync()
        started = time.perf_counter()
        losses = model.loss(videos, labels)
        loss = sum(v for k, v in losses.items() if "loss" in k)
        if optimizer is not None and loss.requires_grad:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        _sync()
        times.append(time.perf_counter() - started)
    peak = _memory_mb(on_gpu)
    counts = model.parameter_counts()
    return dict(method=method, step_time_s=round(statistics.median(times[1:] or times), 4),
                peak_memory_mb=round(peak, 1), training_memory_mb=round(peak - before, 1),
                memory_kind="cuda max_memory_allocated" if on_gpu else "process max RSS",
                device=str(model._device()), batch_size=batch_size, **counts)


def _memory_mb(on_gpu: bool, reset: bool = False) -> float:
    if on_gpu:
        if reset:
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated() / 2**20
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_training(methods, backbone: str, frames: int, batch_size: int, device: str = "cpu") -> list[dict]:
    results = []
    for method in methods:
        command = [sys.executable, "-m", "harness", "bench", "--train-one", method, "--backbone", backbone,
                   "--frames", str(frames), "--batch-size", str(batch_size), "--device", device]
        output = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if output.returncode != 0:
            results.append(dict(method=method, error=output.stderr.strip().splitlines()[-1:]))
            continue
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return results


# ----------------------------------------------------------------------------------------- scaling
def bench_scaling(backbone: str, clips: int, device: str = "cpu") -> dict:
    """Evaluation seconds per clip of the frozen-CLIP path against frames, and text seconds against classes."""
    out = dict(frames={}, classes={})
    for frames in (8, 16, 32):
        model, _ = _build("clip", backbone, frames, device)
        videos = torch.randn(min(clips, 4), frames, 3, model.input_size, model.input_size).to(model._device())
        model.set_class_names(["a", "b"])
        with torch.no_grad():
            model.all_template_features()
            model.class_scores(videos[:1])  # warm-up (kernel selection on a GPU)
            seconds = _timed(lambda: model.class_scores(videos))
        out["frames"][frames] = round(seconds / len(videos), 4)
    model, _ = _build("clip", backbone, 8, device)
    for classes in (10, 100, 400):
        model.set_class_names([f"action number {i}" for i in range(classes)])
        with torch.no_grad():
            out["classes"][classes] = round(_timed(model.all_template_features), 4)
    out["note"] = ("frames: seconds per clip of the visual path; classes: seconds to encode the class prompts "
                   "once (cached for the rest of the evaluation)")
    return out


# ----------------------------------------------------------------------------------------- command
def _check_inputs(args) -> None:
    """Every input is checked before the first timing: a bad name or path is one line now, not an error
    after minutes of measurements."""
    from ..models.backbones import check_backbone
    from ..models.methods_registry import method_entry

    _device(args.device)
    for method in args.methods:
        method_entry(method)
    check_backbone(args.backbone)
    if args.output:
        from pathlib import Path

        folder = Path(args.output).resolve().parent
        if not folder.is_dir():
            raise HarnessError(f"--output {args.output}: folder {folder} does not exist; create it or write elsewhere")
        if not os.access(folder, os.W_OK):
            raise HarnessError(f"--output {args.output}: folder {folder} is not writable; write elsewhere")
    if args.videos and "data" not in args.skip:
        from ..data.pipeline import SegmentSample

        files = user_videos(args.videos)
        good, bad, _ = _decodable(files, SegmentSample(frames=args.frames, test_mode=True))
        if not good:
            raise HarnessError(f"--videos: none of the {len(files)} file(s) can be decoded by decord "
                               f"(e.g. {bad[0]}); give video files (mp4, avi, webm, ...)")


def user_videos(patterns) -> list[str]:
    """The files ``--videos`` names (paths or globs), sorted; one line when none exists."""
    import glob

    files = sorted({f for pattern in patterns for f in (glob.glob(pattern, recursive=True) or [pattern])
                    if os.path.isfile(f)})
    if not files:
        raise HarnessError(f"--videos matched no file ({' '.join(patterns)}); give video files or globs")
    return files


def handle(args) -> int:
    _check_inputs(args)
    if args.train_one:
        print(json.dumps(bench_training_one(args.train_one, args.backbone, args.frames, args.batch_size,
                                            device=args.device)))
        return 0
    from .records import environment

    import shlex

    report = dict(command="python -m harness " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else None,
                  backbone=args.backbone, frames=args.frames, clips=args.clips, device=args.device,
                  machine=environment()["machine"],
                  versions=environment()["versions"], git_revision=environment()["git_revision"])
    if "data" not in args.skip:
        report["data_path"] = [bench_data_path(files, args.frames, size, args.repeats, label, args.min_seconds)
                               for label, files, size in data_path_sets(args)]
        report["data_path_ratio"] = min(d["data_path_ratio"] for d in report["data_path"] if "data_path_ratio" in d)
    if "decoders" not in args.skip:
        report["decoders"], report["workers"] = _decoder_sets(args)
    if "overhead" not in args.skip:
        report["overhead"] = [bench_overhead(m, args.backbone, args.frames, args.clips, args.repeats, args.device)
                              for m in args.methods]
        report["overhead_ratio"] = min(r["overhead_ratio"] for r in report["overhead"])
    if "training" not in args.skip:
        report["training"] = bench_training(args.methods, args.backbone, args.frames, args.batch_size, args.device)
    if "scaling" not in args.skip:
        report["scaling"] = bench_scaling(args.backbone, args.clips, args.device)
    if args.output:
        from pathlib import Path

        Path(args.output).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report))
    else:
        _print(report)
    return 0


def _decoder_sets(args) -> tuple[list[dict], list[dict]]:
    """Decoders side by side on the full-size synthetic clips, ../shared/data's real clips and --videos; and
    the pipeline's clips/s against data.num_workers on the full-size clips with the default decoder."""
    from ..data.fullsize import ensure_fullsize_clips
    from .bench_decoders import bench_decoders, bench_workers, shared_clips
    from .config import ENGINE_DEFAULTS
    from ..models.backbones import create_clip, preprocess_cfg

    fullsize = [str(p) for p in ensure_fullsize_clips(args.clips)]
    sets = [("fullsize-synthetic", fullsize)]
    if shared_clips():
        sets.append(("shared-real-clips", shared_clips()))
    if args.videos:
        sets.append(("videos", user_videos(args.videos)))
    rows = [bench_decoders(files, args.frames, label, args.min_seconds, args.repeats) for label, files in sets]
    size = preprocess_cfg(create_clip(name=args.backbone, pretrained="none"))["size"]
    workers = [bench_workers(fullsize, args.frames, size, ENGINE_DEFAULTS["data"]["decoder"])]
    return rows, workers


def _print(report: dict) -> None:
    from tabulate import tabulate

    print(f"backbone {report['backbone']}, {report['frames']} frames, {report['clips']} clips, "
          f"machine: {report['machine']['cpu']} ({report['machine']['cores']} cores)")
    if "data_path" in report:
        print(tabulate([[d["set"], d.get("clips"), ", ".join(d.get("frame_sizes", [])), d.get("input_size"),
                         d.get("harness_clips_per_s"), d.get("raw_decord_clips_per_s"),
                         d.get("data_path_ratio", d.get("error"))] for d in report["data_path"]],
                       headers=["data path", "clips", "frame size", "input", "harness clips/s", "raw decord clips/s",
                                "ratio (goal ≥ 0.8)"], tablefmt="github"))
    if "decoders" in report:
        from ..data.decoders import DECODERS

        print(tabulate([[d["set"], d["clips"], *[d["decoders"].get(k, {}).get("clips_per_s",
                                                   d["decoders"].get(k, {}).get("error", d.get("error")))
                                                   for k in DECODERS],
                         ", ".join(f"{k} {v['same_frames_as_decord']}" for k, v in d["decoders"].items()
                                   if v.get("same_frames_as_decord") and k != "decord")] for d in report["decoders"]],
                       headers=["decoders (clips/s)", "clips", *DECODERS, "same frames as decord"], tablefmt="github"))
        for w in report["workers"]:
            print(f"data.num_workers ({w['decoder']}, {w['clips']} full-size clips, {w['cores']} cores): clips/s "
                  + ", ".join(f"{k} workers {v}" for k, v in w["clips_per_s_by_workers"].items()))
    if "overhead" in report:
        print(tabulate([[r["method"], r.get("gmacs_per_view"), r["harness_clips_per_s"], r["bare_clips_per_s"],
                         r["overhead_ratio"]] for r in report["overhead"]],
                       headers=["method", "GMACs/view", "harness clips/s", "bare clips/s", "ratio (goal ≥ 0.95)"],
                       tablefmt="github"))
    if "training" in report:
        print(tabulate([[r.get("method"), r.get("step_time_s"), r.get("training_memory_mb"), r.get("peak_memory_mb"),
                         r.get("trainable_params")] for r in report["training"]],
                       headers=["method", "step time s", "training memory MB", "peak RSS MB", "trainable"],
                       tablefmt="github"))
    if "scaling" in report:
        print("scaling:", json.dumps(report["scaling"]))
