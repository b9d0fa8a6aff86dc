"""Evaluating a model on one video list through mmengine's TestLoop: class set switched to the list's, encodings
reused through the feature cache, per-video predictions and skipped videos collected for the record."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from . import records as rec
from ..errors import HarnessError
from ..models.feature_cache import FEATURE_CACHE
from .preflight import resolve_videos
from .training import loader, runner_class, runner_kwargs, video_dataset


def train_sample(video_list, limit: int, seed: int):
    """The training videos train top-1 is measured on: all of them, or a fixed seeded sample of ``limit``."""
    import numpy as np

    entries = video_list.entries
    if len(entries) <= limit:
        return video_list, False
    keep = sorted(np.random.RandomState(seed).choice(len(entries), size=limit, replace=False).tolist())
    return replace(video_list, entries=[entries[i] for i in keep], name=f"{video_list.name}-sample"), True


def evaluate(runner, model, name: str, video_list, config: dict, skip_log: Path) -> dict:
    from mmengine.runner import TestLoop

    video_list, missing = resolve_videos(video_list, config["data"]["allow_missing"])
    listed_before_limit = len(video_list.entries)
    video_list = _limited(video_list, config["eval"]["limit"])
    model.set_class_names(video_list.class_names, video_list.descriptions)
    dataset = video_dataset(video_list, config, model, False, skip_log)
    from ..data.pairs import reversal_partners

    partners = reversal_partners(video_list.class_names) if video_list.temporal else None
    loop = TestLoop(runner, loader(dataset, config["eval"]["batch_size"], config["data"]["num_workers"], False, 0),
                    [dict(type="VideoPredictionMetric", topk=config["eval"]["topk"], partners=partners)])
    runner._test_loop = loop  # hooks (IterTimerHook, LoggerHook) read runner.test_loop / test_dataloader
    cache = FEATURE_CACHE if config["eval"]["feature_cache"] else None
    model.feature_cache = cache
    # options that change the computation without changing the weights (e.g. ActionCLIP's Conv1D view) scope it
    model.feature_cache_scope = rec.config_hash(dict(model=config["model"], backbone=config["backbone"]))
    before = cache.counts() if cache is not None else None
    started = time.perf_counter()
    try:
        if cache is not None:
            model.weights_fingerprint(refresh=True)
        metrics = loop.run()
    finally:
        model.feature_cache = None
    elapsed = time.perf_counter() - started
    reuse = None
    if cache is not None:
        after = cache.counts()
        reuse = dict(hits=after["hits"] - before["hits"], misses=after["misses"] - before["misses"])
    details = getattr(loop.evaluator.metrics[0], "last_details", dict(predictions=[], skipped=[]))
    skipped = missing + details["skipped"]
    failed, present = details["skipped"], len(video_list.entries)  # absent files were allowed (--allow-missing)
    if present and len(failed) / present > config["data"]["max_failed_fraction"]:
        raise HarnessError(f"{len(failed)} of {present} videos of {name!r} could not be read (more than "
                           f"data.max_failed_fraction={config['data']['max_failed_fraction']}; first: "
                           f"{failed[0]['video']}: {failed[0]['reason']}); fix the files or raise the threshold "
                           "with --cfg-options data.max_failed_fraction=...")
    values = {k.split("/", 1)[-1]: v for k, v in metrics.items()}
    n = max(1, len(video_list.entries))
    return dict(name=name, split=video_list.name, num_classes=len(video_list.class_names),
                class_names=list(video_list.class_names),
                metrics=dict(top1=values.get("top1"), top5=values.get("top5"),
                             mean_class_accuracy=values.get("mean_class_accuracy"),
                             n_videos=values.get("n_videos"),
                             **({"direction_accuracy": _finite(values["direction_accuracy"])}
                                if "direction_accuracy" in values else {})),
                # reused encodings are not the model's speed: throughput only from evaluations that computed all
                throughput_clips_per_s=None if reuse and reuse["hits"] else round(n / elapsed, 3),
                eval_wall_s=round(elapsed, 3),
                feature_cache=reuse,
                **({"limited": dict(videos=len(video_list.entries), of=listed_before_limit)}
                   if len(video_list.entries) < listed_before_limit else {}),
                predictions=details["predictions"], skipped=skipped)


def _limited(video_list, limit: int):
    """``eval.limit``: ``limit`` evenly spaced videos of the list (deterministic), for smoke runs only."""
    entries = video_list.entries
    if not limit or len(entries) <= limit:
        return video_list
    return replace(video_list, entries=[entries[i * len(entries) // limit] for i in range(limit)])


def _finite(value):
    return None if value is None or value != value else value  # NaN (no pair in the class set) → null


def eval_runner(model, config: dict, work_dir: Path, seed: int, name: str):
    kwargs = runner_kwargs(config, work_dir, seed, name)
    # Evaluation needs no DDP wrapper (and DDP refuses a model without trainable parameters); under torchrun
    # the process group is already initialised, so samplers still shard and the metric still gathers.
    kwargs["launcher"] = "none"
    kwargs.pop("cfg", None)
    runner = runner_class()(model=model, **kwargs)
    runner.call_hook("before_run")  # hooks set up their log files here (Runner.test() would do it)
    return runner
