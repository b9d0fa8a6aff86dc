"""``python -m harness bench``: what the harness costs beyond the model and the decoder, measured side by side
in one process on the same inputs (absolute times on shared machines are noisy; the goals are ratios).

* overhead — evaluation clips/s through the harness (dataset → transforms → collate → preprocessor →
  method → per-video metric, decode cache warm) ÷ the bare method forward on the same pre-decoded,
  pre-normalised tensors, per method (goal ≥ 0.95);
* data path — clips/s of the harness's decode + transform pipeline (default workers, cold cache) ÷ raw decord
  decoding of the same frame indices (goal ≥ 0.8);
* training — step time and peak memory per method at the same backbone, frames and batch (each method in a
  fresh subprocess, so peak memory is its own);
* scaling — evaluation time against frames (8 → 16 → 32) and against the number of classes.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

METHODS = ("clip", "ezclip", "actionclip", "xclip", "vificlip")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="harness overhead, data path, training cost and scaling",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--backbone", default="ViT-B-32", help="open_clip architecture (random init)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--clips", type=int, default=8, help="videos per measurement")
    parser.add_argument("--batch-size", type=int, default=2, help="training batch for step time / memory")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median ratio is kept")
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "data", "training", "scaling"])
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
    from .data.catalog import load_dataset

    dataset = load_dataset("toy-target-a")
    video_list = next(iter(dataset.zero_shot_evals().values()))
    entries = video_list.entries[:count]
    return video_list, entries


def _build(method: str, backbone: str, frames: int):
    from .config import build_config
    from .methods_registry import method_class

    config = build_config(method, embedded=backbone == "toy-vit", backbone=backbone,
                          cfg_options=[f"model.frames={frames}"])
    model = method_class(method)(backbone=config["backbone"], **config["model"]).eval()
    return model, config


def _dataset(model, video_list, entries, train: bool = False):
    from .data.pipeline import VideoListDataset, build_pipeline

    size = model.input_size
    return VideoListDataset(entries, video_list.video_root, build_pipeline(model.frames, size, train=train),
                            test_mode=not train, placeholder_shape=(model.frames, 3, size, size))


def _cold():
    from .data.pipeline import DECODE_CACHE, FRAME_COUNTS

    DECODE_CACHE.clear()
    FRAME_COUNTS.clear()


# ----------------------------------------------------------------------------------------- data path
def bench_data_path(frames: int, clips: int, repeats: int, input_size: int = 224) -> dict:
    import decord
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader

    from .config import ENGINE_DEFAULTS
    from .data.pipeline import SegmentSample

    video_list, entries = _videos(clips)
    paths = [f"{video_list.video_root}/{p}" for p, _ in entries]
    sampler = SegmentSample(frames=frames, test_mode=True)

    class _Shape:  # the dataset only needs these two attributes of a model
        pass

    shape = _Shape()
    shape.frames, shape.input_size = frames, input_size
    workers = ENGINE_DEFAULTS["data"]["num_workers"]

    def raw():
        for path in paths:
            reader = decord.VideoReader(path, num_threads=1)
            inds = sampler.transform(dict(total_frames=len(reader)))["frame_inds"]
            reader.get_batch(list(map(int, inds))).asnumpy()

    dataset = _dataset(shape, video_list, entries)  # built once, as a run builds it once per evaluation

    def harness_path():
        _cold()
        for _ in DataLoader(dataset, batch_size=8, num_workers=workers, collate_fn=pseudo_collate):
            pass

    raw_times, harness_times = [], []
    for _ in range(repeats):
        raw_times.append(_timed(raw))
        harness_times.append(_timed(harness_path))
    raw_rate, harness_rate = clips / statistics.median(raw_times), clips / statistics.median(harness_times)
    return dict(raw_decord_clips_per_s=round(raw_rate, 2), harness_clips_per_s=round(harness_rate, 2),
                data_path_ratio=round(harness_rate / raw_rate, 3), num_workers=workers, frames=frames,
                input_size=input_size, clips=clips,
                note="harness = decode (cold cache) + resize + centre crop + pack; raw = decord get_batch of "
                     "the same frame indices")


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


# ----------------------------------------------------------------------------------------- overhead
def bench_overhead(method: str, backbone: str, frames: int, clips: int, repeats: int) -> dict:
    from mmengine.dataset import pseudo_collate

    from .metrics import VideoPredictionMetric

    model, config = _build(method, backbone, frames)
    video_list, entries = _videos(clips)
    model.set_class_names(video_list.class_names, video_list.descriptions)
    dataset = _dataset(model, video_list, entries)
    batch = config["eval"]["batch_size"]
    batches = [pseudo_collate([dataset[i] for i in range(s, min(s + batch, len(dataset)))])
               for s in range(0, len(dataset), batch)]
    tensors = [model.data_preprocessor(b)["inputs"] for b in batches]  # pre-decoded, pre-normalised

    def bare():
        with torch.no_grad():
            for videos in tensors:
                model.class_scores(videos[:, 0])

    def harness_path():
        metric = VideoPredictionMetric()
        with torch.no_grad():
            for start in range(0, len(dataset), batch):  # decode cache is warm: transforms still run
                data = pseudo_collate([dataset[i] for i in range(start, min(start + batch, len(dataset)))])
                metric.process(data, model.test_step(data))
        metric.compute_metrics(metric.results)

    with torch.no_grad():
        model.all_template_features()  # text features once per class set, outside both timings
    bare()  # warm-up
    bare_times, harness_times = [], []
    for _ in range(repeats):
        bare_times.append(_timed(bare))
        harness_times.append(_timed(harness_path))
    bare_rate, harness_rate = clips / statistics.median(bare_times), clips / statistics.median(harness_times)
    return dict(method=method, bare_clips_per_s=round(bare_rate, 3), harness_clips_per_s=round(harness_rate, 3),
                overhead_ratio=round(harness_rate / bare_rate, 3))


# ----------------------------------------------------------------------------------------- training
def bench_training_one(method: str, backbone: str, frames: int, batch_size: int, steps: int = 4) -> dict:
    """Step time (forward + backward + optimizer) and peak RSS above the built model, in this process."""
    import resource

    model, config = _build(method, backbone, frames)
    model.train()
    model.set_class_names([f"class {i}" for i in range(8)], {f"class {i}": f"class {i}" for i in range(8)})
    groups = model.param_groups(1e-5, 0.0)
    optimizer = torch.optim.AdamW(groups, lr=1e-5) if groups else None
    size = model.input_size
    generator = torch.Generator().manual_seed(0)
    videos = torch.randn(batch_size, frames, 3, size, size, generator=generator)
    labels = torch.arange(batch_size) % 8
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        losses = model.loss(videos, labels)
        loss = sum(v for k, v in losses.items() if "loss" in k)
        if optimizer is not None and loss.requires_grad:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = model.parameter_counts()
    return dict(method=method, step_time_s=round(statistics.median(times[1:] or times), 4),
                peak_memory_mb=round(peak, 1), training_memory_mb=round(peak - before, 1),
                batch_size=batch_size, **counts)


def bench_training(methods, backbone: str, frames: int, batch_size: int) -> list[dict]:
    results = []
    for method in methods:
        command = [sys.executable, "-m", "harness", "bench", "--train-one", method, "--backbone", backbone,
                   "--frames", str(frames), "--batch-size", str(batch_size)]
        output = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if output.returncode != 0:
            results.append(dict(method=method, error=output.stderr.strip().splitlines()[-1:]))
            continue
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return results


# ----------------------------------------------------------------------------------------- scaling
def bench_scaling(backbone: str, clips: int) -> dict:
    """Evaluation seconds per clip of the frozen-CLIP path against frames, and text seconds against classes."""
    out = dict(frames={}, classes={})
    for frames in (8, 16, 32):
        model, _ = _build("clip", backbone, frames)
        videos = torch.randn(min(clips, 4), frames, 3, model.input_size, model.input_size)
        model.set_class_names(["a", "b"])
        with torch.no_grad():
            model.all_template_features()
            seconds = _timed(lambda: model.class_scores(videos))
        out["frames"][frames] = round(seconds / len(videos), 4)
    model, _ = _build("clip", backbone, 8)
    for classes in (10, 100, 400):
        model.set_class_names([f"action number {i}" for i in range(classes)])
        with torch.no_grad():
            out["classes"][classes] = round(_timed(model.all_template_features), 4)
    out["note"] = ("frames: seconds per clip of the visual path; classes: seconds to encode the class prompts "
                   "once (cached for the rest of the evaluation)")
    return out


# ----------------------------------------------------------------------------------------- command
def handle(args) -> int:
    if args.train_one:
        print(json.dumps(bench_training_one(args.train_one, args.backbone, args.frames, args.batch_size)))
        return 0
    from .records import environment

    report = dict(backbone=args.backbone, frames=args.frames, clips=args.clips, machine=environment()["machine"],
                  versions=environment()["versions"], git_revision=environment()["git_revision"])
    if "data" not in args.skip:
        report["data_path"] = bench_data_path(args.frames, args.clips, args.repeats)
        report["data_path_ratio"] = report["data_path"]["data_path_ratio"]
    if "overhead" not in args.skip:
        report["overhead"] = [bench_overhead(m, args.backbone, args.frames, args.clips, args.repeats)
                              for m in args.methods]
        report["overhead_ratio"] = min(r["overhead_ratio"] for r in report["overhead"])
    if "training" not in args.skip:
        report["training"] = bench_training(args.methods, args.backbone, args.frames, args.batch_size)
    if "scaling" not in args.skip:
        report["scaling"] = bench_scaling(args.backbone, args.clips)
    if args.output:
        from pathlib import Path

        Path(args.output).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report))
    else:
        _print(report)
    return 0


def _print(report: dict) -> None:
    from tabulate import tabulate

    print(f"backbone {report['backbone']}, {report['frames']} frames, {report['clips']} clips, "
          f"machine: {report['machine']['cpu']} ({report['machine']['cores']} cores)")
    if "data_path" in report:
        d = report["data_path"]
        print(f"data path: harness {d['harness_clips_per_s']} clips/s vs raw decord {d['raw_decord_clips_per_s']} "
              f"→ ratio {d['data_path_ratio']} (goal ≥ 0.8)")
    if "overhead" in report:
        print(tabulate([[r["method"], r["harness_clips_per_s"], r["bare_clips_per_s"], r["overhead_ratio"]]
                        for r in report["overhead"]], headers=["method", "harness clips/s", "bare clips/s",
                                                               "ratio (goal ≥ 0.95)"], tablefmt="github"))
    if "training" in report:
        print(tabulate([[r.get("method"), r.get("step_time_s"), r.get("training_memory_mb"), r.get("peak_memory_mb"),
                         r.get("trainable_params")] for r in report["training"]],
                       headers=["method", "step time s", "training memory MB", "peak RSS MB", "trainable"],
                       tablefmt="github"))
    if "scaling" in report:
        print("scaling:", json.dumps(report["scaling"]))
