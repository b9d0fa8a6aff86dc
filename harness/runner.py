"""Protocol units → mmengine Runner: train the method on the unit's training list, evaluate it on each of the
unit's evaluation lists (switching the class set), and write one run record per unit.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch

from . import records as rec
from .config import build_config, identity_config
from .feature_cache import FEATURE_CACHE
from .errors import HarnessError
from .methods_registry import method_class
from .paths import REPO_ROOT, records_dir as default_records_dir
from .protocols import expand_units, load_protocol


def _log(message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        print(message, flush=True)


# ----------------------------------------------------------------------------------------- data loaders
def _check_missing(video_list, allow_missing: bool):
    """Resolve every listed video under the video root (exact path, else the same file name in a class
    folder — see ``VideoIndex``). Absent videos are an error naming the fix, or (``--allow-missing``) dropped
    and counted."""
    root = Path(video_list.video_root)
    if all((root / p).is_file() for p, _ in video_list.entries):
        return video_list, []
    from .data.catalog import VideoIndex

    found = video_list.resolve(_video_index(root, VideoIndex))
    entries = [(str(f.relative_to(root)), label) for f, (_, label) in zip(found, video_list.entries) if f is not None]
    missing = [p for f, (p, _) in zip(found, video_list.entries) if f is None]
    if missing and not allow_missing:
        raise HarnessError(f"{len(missing)} of {len(video_list.entries)} videos of list {video_list.name!r} are "
                           f"missing under {root} (first: {missing[0]}); fix the video root, run `python -m "
                           "harness prepare` to list them, or pass --allow-missing to skip and count them")
    return replace(video_list, entries=entries), [dict(video=p, reason="missing on disk (--allow-missing)")
                                                   for p in missing]


_INDEXES: dict = {}


def _video_index(root: Path, index_class):
    if root not in _INDEXES:
        _INDEXES[root] = index_class(root)
    return _INDEXES[root]


def _dataset(video_list, config: dict, model, train: bool, skip_log: Path):
    from .data.pipeline import VideoListDataset, build_pipeline

    data, evaluation = config["data"], config["eval"]
    size = data["input_size"] or model.input_size
    pipeline = build_pipeline(model.frames, size, train=train, clips=evaluation["clips"], crops=evaluation["crops"],
                              flip=bool(config["train"]["flip"]) and not video_list.temporal,
                              random_offset=data["random_offset"], resize_ratio=data["resize_ratio"])
    views = 1 if train else evaluation["clips"] * evaluation["crops"]
    return VideoListDataset(video_list.entries, video_list.video_root, pipeline, test_mode=not train,
                            skip_log=skip_log, placeholder_shape=(views * model.frames, 3, size, size))


def _loader(dataset, batch_size: int, num_workers: int, shuffle: bool, seed: int) -> dict:
    return dict(dataset=dataset, batch_size=batch_size, num_workers=num_workers,
                persistent_workers=num_workers > 0, sampler=dict(type="DefaultSampler", shuffle=shuffle, seed=seed),
                collate_fn=dict(type="pseudo_collate"))


# ----------------------------------------------------------------------------------------- one unit
def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _runner_kwargs(config: dict, work_dir: Path, seed: int, name: str) -> dict:
    runtime = config["runtime"]
    kwargs = dict(work_dir=str(work_dir), experiment_name=f"{name}-{time.time_ns()}", default_scope="harness",
                  randomness=dict(seed=seed, deterministic=runtime["deterministic"], diff_rank_seed=False),
                  env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                               dist_cfg=dict(backend="nccl" if torch.cuda.is_available() else "gloo")),
                  launcher=runtime["launcher"], log_level="WARNING",
                  default_hooks=dict(logger=dict(type="LoggerHook", interval=runtime["log_interval"]),
                                     timer=dict(type="IterTimerHook")),
                  visualizer=dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")],
                                  name=f"vis-{time.time_ns()}"))
    if runtime["launcher"] != "none" and not torch.cuda.is_available():
        # mmengine reads the wrapper from cfg; device_ids=None is what makes DDP accept CPU modules
        kwargs["cfg"] = dict(model_wrapper_cfg=dict(type="MMDistributedDataParallel", device_ids=None,
                                                    broadcast_buffers=False, find_unused_parameters=True))
    return kwargs


def _train(model, unit, config: dict, work_dir: Path, skip_log: Path, resume: bool):
    from mmengine.runner import Runner

    from .hooks import EpochSeedHook, StepTimerHook

    train_cfg, data, runtime = config["train"], config["data"], config["runtime"]
    video_list, missing = _check_missing(unit.train, data["allow_missing"])
    selection = None
    if runtime["val_fraction"] > 0:
        from .splits import hold_out

        kept, held = hold_out(video_list.entries, runtime["val_fraction"], unit.seed)
        video_list, selection = replace(video_list, entries=kept), replace(video_list, entries=held, name="val-holdout")
    model.set_class_names(video_list.class_names, video_list.descriptions)
    world = _world_size()
    effective = int(train_cfg["batch_size"])
    per_device = int(train_cfg["per_device_batch_size"] or max(1, effective // world))
    accumulation = max(1, effective // (per_device * world))
    per_device = min(per_device, max(1, len(video_list.entries) // world))
    epochs = int(train_cfg["epochs"])
    optimizer = dict(train_cfg["optimizer"])
    optimizer["betas"] = tuple(optimizer.get("betas", (0.9, 0.999)))
    warmup = int(train_cfg["warmup_epochs"])
    schedulers = []
    if warmup > 0:
        schedulers.append(dict(type="LinearLR", start_factor=1e-3, by_epoch=True, begin=0, end=warmup,
                               convert_to_iter_based=True))
    if epochs > warmup:
        schedulers.append(dict(type="CosineAnnealingLR", by_epoch=True, begin=warmup, end=epochs,
                               T_max=epochs - warmup, eta_min=optimizer["lr"] * train_cfg["min_lr_ratio"],
                               convert_to_iter_based=True))
    timer = StepTimerHook()
    seeder = EpochSeedHook(unit.seed + runtime["seed"])
    kwargs = _runner_kwargs(config, work_dir, unit.seed + runtime["seed"], unit.label())
    kwargs["default_hooks"]["checkpoint"] = dict(type="CheckpointHook", interval=1, by_epoch=True, max_keep_ckpts=1,
                                                 save_last=True, save_optimizer=True, save_param_scheduler=True)
    runner = Runner(model=model,
                    train_dataloader=_loader(_dataset(video_list, config, model, True, skip_log), per_device,
                                             data["num_workers"], True, unit.seed),
                    train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=10**9),
                    optim_wrapper=dict(constructor="MethodParamGroupsConstructor", optimizer=optimizer,
                                       accumulative_counts=accumulation,
                                       clip_grad=dict(max_norm=train_cfg["max_grad_norm"]) if train_cfg["max_grad_norm"] else None),
                    param_scheduler=schedulers or None, custom_hooks=[seeder, timer], resume=resume, **kwargs)
    started = time.perf_counter()
    runner.train()
    wall = time.perf_counter() - started
    summary = timer.summary()
    training = dict(epochs=epochs, iterations=summary["iterations"], train_videos=len(video_list.entries),
                    effective_batch_size=per_device * accumulation * world, per_device_batch_size=per_device,
                    accumulation=accumulation, world_size=world, step_time_s=summary["step_time_s"],
                    peak_memory_mb=_peak_memory_mb(), first_loss=summary["first_loss"],
                    final_loss=summary["final_loss"], wall_s=round(wall, 3), selected_checkpoint="last",
                    missing=missing)
    if selection is not None:
        training["selected_checkpoint"] = "last (validation slice of the training list reported below)"
    return runner, training, selection


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # process high-water mark


def _evaluate(runner, model, name: str, video_list, config: dict, skip_log: Path) -> dict:
    from mmengine.runner import TestLoop

    video_list, missing = _check_missing(video_list, config["data"]["allow_missing"])
    model.set_class_names(video_list.class_names, video_list.descriptions)
    dataset = _dataset(video_list, config, model, False, skip_log)
    loop = TestLoop(runner, _loader(dataset, config["eval"]["batch_size"], config["data"]["num_workers"], False, 0),
                    [dict(type="VideoPredictionMetric", topk=config["eval"]["topk"])])
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
    listed = len(video_list.entries) + len(missing)
    if listed and len(skipped) / listed > config["data"]["max_failed_fraction"]:
        raise HarnessError(f"{len(skipped)} of {listed} videos of {name!r} could not be read (more than "
                           f"data.max_failed_fraction={config['data']['max_failed_fraction']}; first: "
                           f"{skipped[0]['video']}: {skipped[0]['reason']}); fix the files or raise the threshold "
                           "with --cfg-options data.max_failed_fraction=...")
    values = {k.split("/", 1)[-1]: v for k, v in metrics.items()}
    n = max(1, len(video_list.entries))
    return dict(name=name, split=video_list.name, num_classes=len(video_list.class_names),
                class_names=list(video_list.class_names),
                metrics=dict(top1=values.get("top1"), top5=values.get("top5"),
                             mean_class_accuracy=values.get("mean_class_accuracy"),
                             n_videos=values.get("n_videos")),
                # reused encodings are not the model's speed: throughput only from evaluations that computed all
                throughput_clips_per_s=None if reuse and reuse["hits"] else round(n / elapsed, 3),
                eval_wall_s=round(elapsed, 3),
                feature_cache=reuse,
                predictions=details["predictions"], skipped=skipped)


def _eval_runner(model, config: dict, work_dir: Path, seed: int, name: str):
    from mmengine.runner import Runner

    kwargs = _runner_kwargs(config, work_dir, seed, name)
    # Evaluation needs no DDP wrapper (and DDP refuses a model without trainable parameters); under torchrun
    # the process group is already initialised, so samplers still shard and the metric still gathers.
    kwargs["launcher"] = "none"
    kwargs.pop("cfg", None)
    runner = Runner(model=model, **kwargs)
    runner.call_hook("before_run")  # hooks set up their log files here (Runner.test() would do it)
    return runner


def run_unit(method: str, config: dict, unit, work_dir: Path, checkpoint: str | None = None,
             resume: bool = False, profile: dict | None = None) -> dict:
    """Train (if the method has trainable parameters and the unit a training list) and evaluate one unit."""
    from mmengine.runner import set_random_seed

    from .compat import allow_mmengine_checkpoints
    from .data.pipeline import read_skip_log

    allow_mmengine_checkpoints()
    seed = unit.seed + config["runtime"]["seed"]
    set_random_seed(seed, deterministic=config["runtime"]["deterministic"])
    work_dir.mkdir(parents=True, exist_ok=True)
    skip_log = work_dir / "skipped.tsv"
    if skip_log.exists() and not resume:
        skip_log.unlink()
    model = method_class(method)(backbone=config["backbone"], **config["model"])
    counts = model.parameter_counts()
    if profile is not None and not profile:
        profile.update(_profile(method, model))
    training, runner = None, None
    if checkpoint:
        _load_checkpoint(model, checkpoint)
    elif counts["trainable_params"] > 0 and unit.train is not None and config["train"]["epochs"] > 0:
        runner, training, selection = _train(model, unit, config, work_dir, skip_log, resume)
        torch.save(model.state_dict(), work_dir / "final_state_dict.pth")
        training["skipped"] = read_skip_log(skip_log)
        if selection is not None:
            training["validation"] = _evaluate(runner, model, "val-holdout", selection, config, skip_log)
    if runner is None:
        runner = _eval_runner(model, config, work_dir, seed, unit.label())
    model.eval()
    evaluations = []
    for name, dataset_name, split, video_list in unit.evaluations:
        if skip_log.exists():
            skip_log.unlink()
        result = _evaluate(runner, model, name, video_list, config, skip_log)
        result["dataset"] = dataset_name
        evaluations.append(result)
        _log(f"  {name:<28} top1 {100 * (result['metrics']['top1'] or 0):6.2f}%  "
             f"({result['metrics']['n_videos']} videos, {len(result['skipped'])} skipped)")
    return dict(model=dict(backbone=config["backbone"]["name"], pretrained=config["backbone"]["pretrained"],
                           quick_gelu=model.backbone_info["quick_gelu"],
                           weights_sha256=model.backbone_info.get("weights_sha256"), frames=model.frames,
                           input_size=config["data"]["input_size"] or model.input_size,
                           normalization=model.backbone_info["normalization"], **counts, **(profile or {})),
                training=training, evaluations=evaluations, checkpoint=checkpoint)


def _load_checkpoint(model, checkpoint: str) -> None:
    path = Path(checkpoint)
    if not path.is_file():
        raise HarnessError(f"checkpoint {checkpoint} not found; give the final_state_dict.pth of a training run "
                           "(in its work directory)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    problems = [k for k in missing if not k.startswith("data_preprocessor")] + list(unexpected)
    if problems:
        raise HarnessError(f"checkpoint {checkpoint} does not match this method/backbone/frames "
                           f"({len(problems)} mismatched keys, e.g. {problems[0]}); use the same --method, "
                           "--backbone and model.frames it was trained with")


# ----------------------------------------------------------------------------------------- a whole protocol
def resolve_datasets(protocol: dict, dataset_names: list[str] | None, source_name: str | None, dataset_kwargs: dict):
    from .data.catalog import load_dataset

    names = dataset_names or protocol["default_datasets"]
    datasets = [load_dataset(n, **(dataset_kwargs if n == "custom" or len(names) == 1 else {})) for n in names]
    source = None
    if protocol["name"] == "zero_shot":
        if source_name is None:
            embedded = all(getattr(d, "kind", "") == "embedded" for d in datasets)
            source_name = protocol["default_source"] if embedded else protocol.get("real_source")
        source = load_dataset(source_name, **({} if source_name.startswith("toy-") else
                                              {k: v for k, v in dataset_kwargs.items() if k == "files_root"}))
    return datasets, source


def run(method: str, protocol_name: str, datasets: list[str] | None = None, source: str | None = None,
        backbone: str | None = None, pretrained: str | None = None, seeds: list[int] | None = None,
        cfg_options: list[str] | None = None, work_dir: str | None = None, force: bool = False,
        checkpoint: str | None = None, resume: bool = False, launcher: str = "none",
        dataset_kwargs: dict | None = None, records_dir: str | None = None, shots: list[int] | None = None,
        allow_missing: bool = False) -> list[dict]:
    """Run one method under one protocol; returns the run records (new or existing)."""
    protocol = load_protocol(protocol_name)
    dataset_objs, source_obj = resolve_datasets(protocol, datasets, source, dataset_kwargs or {})
    embedded = all(getattr(d, "kind", "") == "embedded" for d in dataset_objs + ([source_obj] if source_obj else []))
    options = list(cfg_options or [])
    options.append(f"runtime.launcher={launcher}")
    if allow_missing:
        options.append("data.allow_missing=true")
    config = build_config(method, embedded, options, backbone, pretrained)
    _set_threads(config)
    if launcher != "none":
        _init_distributed()
    trainable = _needs_training(method, config) and checkpoint is None
    units = expand_units(protocol, dataset_objs, source_obj, seeds, shots, train_source=trainable)
    records_root = Path(records_dir) if records_dir else default_records_dir()
    work_root = Path(work_dir) if work_dir else REPO_ROOT / "work_dirs"
    profile: dict = {}
    results = []
    for unit in units:
        unit_key = dict(protocol=protocol["name"], protocol_version=protocol["version"], dataset=unit.dataset,
                        seed=unit.seed, shots=unit.shots, checkpoint=checkpoint, file_hashes=unit.file_hashes,
                        weights=_weights_identity(config))
        run_id = rec.make_run_id(method, unit.label(), identity_config(config), unit_key)
        path = rec.record_path(records_root, protocol["name"], method, unit.dataset, run_id)
        if path.exists() and not force:
            _log(f"[skip] {run_id}: record exists ({path.relative_to(records_root)}); --force reruns it")
            results.append(rec.load_record(path))
            continue
        _log(f"[run ] {run_id}")
        unit_dir = work_root / method / unit.label()
        if unit_dir.exists() and not resume:
            shutil.rmtree(unit_dir, ignore_errors=True)
        started = time.perf_counter()
        outcome = run_unit(method, config, unit, unit_dir, checkpoint, resume, profile)
        record = dict(schema_version=rec.SCHEMA_VERSION, run_id=run_id, created_utc=rec.now_utc(), method=method,
                      protocol=dict(name=protocol["name"], version=protocol["version"], hash=protocol["hash"]),
                      dataset=unit.dataset, unit=dict(seed=unit.seed, shots=unit.shots, split=None),
                      config=config, environment=rec.environment(), file_hashes=unit.file_hashes,
                      views=dict(clips=config["eval"]["clips"], crops=config["eval"]["crops"]),
                      text=dict(source=config["model"].get("text", {}).get("source", "names"),
                                templates=config["model"].get("text", {}).get("templates", ["{}"])),
                      wall_s=round(time.perf_counter() - started, 3), **outcome)
        if int(os.environ.get("RANK", "0")) == 0:
            if force and path.exists():
                path.unlink()
            rec.write_record(record, path)
            _log(f"[done] {path.relative_to(records_root)} ({record['wall_s']:.1f} s)")
        results.append(record)
    return results


def _weights_identity(config: dict) -> str | None:
    """What the backbone weights are, for the run id: a new embedded toy CLIP means new runs."""
    backbone = config["backbone"]
    if backbone["pretrained"] == "embedded":
        from . import toyclip

        fingerprint = getattr(toyclip, "fingerprint", None)
        return f"embedded-toy-clip-v{toyclip.VERSION}-{fingerprint()[:12] if fingerprint else ''}"
    return backbone["pretrained"]


def _needs_training(method: str, config: dict) -> bool:
    return bool(getattr(method_class(method), "trainable", True)) and config["train"]["epochs"] > 0


def _profile(method: str, model) -> dict:
    """GMACs per view and per text prompt of the built model (exact counter), measured once per run."""
    from .profile import profile_method

    try:
        with torch.random.fork_rng():  # profiling draws random inputs: keep the unit's RNG stream untouched
            figures = profile_method(method, method=model)
    except Exception as error:  # profiling must never lose a run
        _log(f"[warn] profiling failed: {type(error).__name__}: {error}")
        return {}
    return dict(gmacs_per_view=figures["gmacs_per_view"], text_gmacs=figures["text_gmacs"])


def _set_threads(config: dict) -> None:
    """``runtime.threads`` 0 = auto: one thread for the embedded toy backbone (its ops are too small to
    gain from more, and OpenMP threads spin badly when the cores are shared — measured 10× slower steps),
    torch's default otherwise."""
    threads = config["runtime"]["threads"] or (1 if config["backbone"]["name"] == "toy-vit" else 0)
    if threads:
        torch.set_num_threads(int(threads))


def _init_distributed() -> None:
    """torchrun on CPU: initialise gloo ourselves (mmengine calls torch.cuda.set_device unconditionally)."""
    import torch.distributed as dist

    if "RANK" not in os.environ:
        raise HarnessError("--launcher pytorch needs torchrun (e.g. torchrun --nproc_per_node 2 -m harness run ...)")
    if not dist.is_initialized() and not torch.cuda.is_available():
        dist.init_process_group("gloo")
