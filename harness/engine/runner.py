"""A whole protocol run: protocol units → run ids (config and unit hashes) → records that already exist are kept,
the rest are checked up front (preflight), each trained and evaluated in its own work folder (``unit.run_unit``)
and written as one run record per unit.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from . import records as rec
from . import workdirs
from .config import build_config, embedded_units, identity_config
from .distributed import init_distributed, is_rank0, log
from ..models.backbones import is_embedded_backbone
from ..models.methods_registry import method_class
from ..paths import REPO_ROOT, records_dir as default_records_dir, work_root as default_work_root
from .preflight import check_run
from .protocols import expand_units, load_protocol
from .unit import run_unit


def resolve_datasets(protocol: dict, dataset_names: list[str] | None, source_name: str | None, dataset_kwargs: dict):
    from ..data.catalog import load_dataset

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
        allow_missing: bool = False, reproduction: dict | None = None) -> list[dict]:
    """Run one method under one protocol; returns the run records (new or existing).

    Every input is checked before the first side effect (:mod:`harness.engine.preflight`); each unit trains in a
    work folder of its own run id (:mod:`harness.engine.workdirs`), so no command deletes what another made.
    ``checkpoint``: a harness or an official checkpoint of the method (:mod:`harness.models.checkpoints`), evaluated
    instead of training; ``reproduction``: marks the records as the reproduction of a released checkpoint.
    """
    from ..models.checkpoints import read_checkpoint
    from ..models.checkpoints.runs import official_activation, state_for_run
    from .preflight import forget_converted

    protocol = load_protocol(protocol_name)
    dataset_objs, source_obj = resolve_datasets(protocol, datasets, source, dataset_kwargs or {})
    embedded = all(getattr(d, "kind", "") == "embedded" for d in dataset_objs + ([source_obj] if source_obj else []))
    options = list(cfg_options or [])
    options.append(f"runtime.launcher={launcher}")
    if allow_missing:
        options.append("data.allow_missing=true")
    config = build_config(method, embedded, options, backbone, pretrained)
    checkpoint_id, checkpoint_state = None, None
    if checkpoint:
        loaded = read_checkpoint(checkpoint)  # read once, any format; URLs and hub names refused
        note = official_activation(loaded, config, options)
        if note:
            log(note)
        checkpoint_state, checkpoint_id = state_for_run(method, config, loaded, log)
    trainable = _needs_training(method, config) and checkpoint is None
    units = expand_units(protocol, dataset_objs, source_obj, seeds, shots, train_source=trainable)
    if config["runtime"]["validation_only"]:  # tuning: the held-out slice of the training list only, no test list
        units = [replace(unit, evaluations=[]) for unit in units]
    records_root = Path(records_dir) if records_dir else default_records_dir()
    work_root = Path(work_dir) if work_dir else default_work_root()
    plan, results, configs = [], {}, {}
    own = embedded_units(method) if embedded else set()
    for index, unit in enumerate(units):
        key = f"{protocol['name']}/{unit.dataset}"
        # a schedule the method's embedded config sets for this protocol on this dataset (cfg-options still win)
        configs[index] = build_config(method, embedded, options, backbone, pretrained, unit=key) if key in own \
            else config
        run_id = unit_run_id(method, protocol, unit, configs[index], config, checkpoint_id, reproduction)
        path = rec.record_path(records_root, protocol["name"], method, unit.dataset, run_id)
        if path.exists() and not force:
            log(f"[skip] {run_id}: record exists ({path}); --force reruns it")
            results[index] = rec.load_record(path)
        else:
            plan.append((index, unit, run_id, path))
    if plan:
        check_run(method, config, [unit for _, unit, _, _ in plan], checkpoint, train=trainable,
                  checkpoint_state=checkpoint_state)
        checkpoint_state = None  # each unit loads into its own freshly built model
        folders = {}
        for index, unit, run_id, _ in plan:
            identity = workdirs.run_identity(method, run_id, unit.label(), identity_config(configs[index]))
            folder = workdirs.resume_folder(work_root, identity) if resume and trainable else None
            if folder is None:
                folder = workdirs.new_attempt(work_root, method, run_id)
                earlier = [f for f in workdirs.attempts(work_root, method, run_id) if workdirs.is_interrupted(f)]
                if earlier and trainable:
                    log(f"[note] {earlier[-1]} holds an interrupted training of this run (kept); --resume "
                         f"continues it — this run starts afresh in {folder}")
            folders[index] = (folder, identity, folder.exists() and resume)
        set_threads(config)
        if launcher != "none":
            init_distributed()
    profile: dict = {}
    for index, unit, run_id, path in plan:
        folder, identity, resuming = folders[index]
        log(f"[run ] {run_id}" + (f" (resuming {folder})" if resuming else ""))
        started = time.perf_counter()
        outcome = run_unit(method, configs[index], unit, folder, checkpoint, resuming, profile, identity)
        record = dict(schema_version=rec.SCHEMA_VERSION, run_id=run_id, created_utc=rec.now_utc(), method=method,
                      protocol=dict(name=protocol["name"], version=protocol["version"], hash=protocol["hash"]),
                      dataset=unit.dataset, unit=dict(seed=unit.seed, shots=unit.shots, split=None),
                      config=configs[index], environment=rec.environment(), file_hashes=unit.file_hashes,
                      views=dict(clips=config["eval"]["clips"], crops=config["eval"]["crops"]),
                      text=dict(source=config["model"].get("text", {}).get("source", "names"),
                                templates=config["model"].get("text", {}).get("templates", ["{}"])),
                      wall_s=round(time.perf_counter() - started, 3), **outcome, checkpoint=checkpoint_id,
                      work_dir=_shown_path(folder), **({"reproduction": reproduction} if reproduction else {}))
        if is_rank0():
            if force and path.exists():
                kept = rec.set_aside(path)
                log(f"[note] --force: the earlier record of this run is kept as {kept}")
            rec.write_record(record, path)
            log(f"[done] {path} ({record['wall_s']:.1f} s)")
        results[index] = record
    forget_converted()
    return [results[i] for i in sorted(results)]


def unit_run_id(method: str, protocol: dict, unit, unit_config: dict, config: dict, checkpoint_id: dict | None = None,
                reproduction: dict | None = None) -> str:
    """The run id of one unit (config and unit hashes); ``sweep --plan`` and its executors name units by it."""
    unit_key = dict(protocol=protocol["name"], protocol_version=protocol["version"], dataset=unit.dataset,
                    seed=unit.seed, shots=unit.shots, checkpoint=checkpoint_id and checkpoint_id["sha256"],
                    file_hashes=unit.file_hashes, weights=_weights_identity(config),
                    **({"reproduction": reproduction["release"]} if reproduction else {}))
    return rec.make_run_id(method, unit.label(), identity_config(unit_config), unit_key)


def plan_units(method: str, protocol_name: str, datasets: list[str] | None = None, backbone: str | None = None,
               pretrained: str | None = None, seeds: list[int] | None = None, cfg_options: list[str] | None = None,
               records_dir: str | None = None, shots: list[int] | None = None) -> list[dict]:
    """The units ``run`` would run (same run ids and record paths), without training or evaluating anything."""
    protocol = load_protocol(protocol_name)
    dataset_objs, source_obj = resolve_datasets(protocol, datasets, None, {})
    embedded = all(getattr(d, "kind", "") == "embedded" for d in dataset_objs + ([source_obj] if source_obj else []))
    options = [*(cfg_options or []), "runtime.launcher=none"]
    config = build_config(method, embedded, options, backbone, pretrained)
    trainable = _needs_training(method, config)
    units = expand_units(protocol, dataset_objs, source_obj, seeds, shots, train_source=trainable)
    if config["runtime"]["validation_only"]:
        units = [replace(unit, evaluations=[]) for unit in units]
    records_root = Path(records_dir) if records_dir else default_records_dir()
    own = embedded_units(method) if embedded else set()
    planned = []
    for unit in units:
        key = f"{protocol['name']}/{unit.dataset}"
        unit_config = build_config(method, embedded, options, backbone, pretrained, unit=key) if key in own else config
        run_id = unit_run_id(method, protocol, unit, unit_config, config)
        planned.append(dict(method=method, protocol=protocol["name"], unit=unit, config=unit_config, run_id=run_id,
                            trainable=trainable and unit.train is not None,
                            record=rec.record_path(records_root, protocol["name"], method, unit.dataset, run_id)))
    return planned


def _shown_path(path: Path) -> str:
    """Relative to the checkout when inside it (records stay the same on every machine)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _weights_identity(config: dict) -> str | None:
    """What the backbone weights are, for the run id: a new embedded toy CLIP means new runs."""
    backbone = config["backbone"]
    if backbone["pretrained"] == "embedded":
        from ..models import toyclip

        name = backbone["name"] if backbone["name"] in toyclip.TOY_MODELS else toyclip.TOY_MODEL_NAME
        return f"embedded-toy-clip-v{toyclip.VERSION}-{toyclip.fingerprint(name)[:12]}"  # toy-vit's string unchanged
    return backbone["pretrained"]


def _needs_training(method: str, config: dict) -> bool:
    return bool(getattr(method_class(method), "trainable", True)) and config["train"]["epochs"] > 0


def set_threads(config: dict) -> None:
    """``runtime.threads`` 0 = auto: one thread for the embedded toy backbone (its ops are too small to
    gain from more, and OpenMP threads spin badly when the cores are shared — measured 10× slower steps),
    torch's default otherwise."""
    threads = config["runtime"]["threads"] or (1 if is_embedded_backbone(config["backbone"]["name"]) else 0)
    if threads:
        torch.set_num_threads(int(threads))
