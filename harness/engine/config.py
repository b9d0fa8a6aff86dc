"""Run configuration: method config + engine defaults + embedded overrides + ``--cfg-options``, validated.

Every key a user can set exists in a default (the method's YAML or :data:`ENGINE_DEFAULTS`), so a
misspelled or unknown key is rejected with the nearest valid key named, and a value of the wrong type is
named too — no key silently becomes an empty value (the EZ-CLIP#1 DotMap failure).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import HarnessError, closest
from ..models.backbones import is_embedded_backbone
from ..models.methods_registry import method_config_path


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; configs and --cfg-options read it as the float it means."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)

#: Engine keys shared by every method (data, evaluation, runtime). Method YAMLs hold ``model`` and ``train``.
ENGINE_DEFAULTS: dict[str, Any] = {
    "backbone": {"name": "toy-vit", "pretrained": "embedded", "quick_gelu": "auto"},
    "data": {
        "num_workers": 0,           # decode workers per process; 0: in the main process; -1: per device (real data)
        "decoder": "decord",        # decord | pyav | torchcodec (harness/data/decoders.py); not decord: in the run id
        "input_size": None,         # None: the backbone's own input size
        "resize_ratio": 256 / 224,  # short side = input_size · 256/224 before cropping, as the official repos
        "random_offset": True,      # TSN random offset inside segments in training
        "max_failed_fraction": 0.05,  # more unreadable videos than this fraction of a list is an error
        "allow_missing": False,     # videos listed but absent on disk: error unless true (then counted)
    },
    "eval": {"batch_size": 32, "clips": 1, "crops": 1, "topk": 5,
             "feature_cache": True,     # reuse video encodings of identical batches (harness/models/feature_cache.py)
             "limit": 0},               # > 0: only this many evenly spaced videos per list (smoke tests; in the run id)
    "runtime": {
        "seed": 0,                  # base seed; protocol units add their own seed (base2novel s1..s3 etc.)
        "deterministic": True,
        "launcher": "none",
        "val_fraction": 0.0,        # > 0: hold out this fraction of the TRAIN list for checkpoint selection
        "checkpoint_selection": "last",  # last | val (never a test split)
        "validation_only": False,   # evaluate only the held-out slice of the training list (``tune``); in the run id
        "save_checkpoint": True,
        "log_interval": 10,
        "threads": 0,               # torch threads; 0 = auto (1 for the embedded toy backbone, else torch's default)
        "train_eval_videos": 256,   # train top-1 of the final weights on (a fixed sample of) the training list; 0 = off
        "tensorboard": False,       # also log scalars through mmengine's TensorboardVisBackend (extra: tensorboard)
        "progress": True,           # live progress line on a terminal, a short line every 20 s otherwise
        "log_init_info": False,     # write mmengine's per-parameter initialisation dump into train.log
    },
}

#: Settings that cannot change a result (tested), left out of the run id so turning them on or off reuses
#: the records already made.
RESULT_NEUTRAL_KEYS: tuple[tuple[str, str], ...] = (("eval", "feature_cache"), ("runtime", "tensorboard"),
                                                    ("runtime", "progress"),
                                                    ("runtime", "log_init_info"))


#: Keys added after records existed: at their default they are left out of the run id, so the records made
#: before them keep their ids; any other value changes the id.
DEFAULT_FREE_KEYS: tuple[tuple[str, str, object], ...] = (("eval", "limit", 0), ("runtime", "validation_only", False),
                                                          ("data", "decoder", "decord"))


def identity_config(config: dict) -> dict:
    """The config as it enters the run id: without :data:`RESULT_NEUTRAL_KEYS`."""
    trimmed = copy.deepcopy(config)
    for section, key in RESULT_NEUTRAL_KEYS:
        trimmed.get(section, {}).pop(key, None)
    for section, key, default in DEFAULT_FREE_KEYS:
        if trimmed.get(section, {}).get(key) == default:
            trimmed[section].pop(key)
    return trimmed


TRAIN_DEFAULTS: dict[str, Any] = {
    "optimizer": {"type": "AdamW", "lr": 1e-5, "betas": [0.9, 0.98], "eps": 1e-8, "weight_decay": 0.2},
    "epochs": 1,
    "warmup_epochs": 0,
    "batch_size": 8,              # effective batch size, constant across device counts
    "per_device_batch_size": None,  # None: effective batch / world size (gradient accumulation if smaller)
    "flip": True,
    "max_grad_norm": None,
    "min_lr_ratio": 0.0,
}


def _load_yaml(path: Path) -> dict:
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"config file {path} not found") from None
    except yaml.YAMLError as error:
        raise HarnessError(f"config file {path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"config file {path} must hold a mapping at the top level")
    return data


def deep_merge(base: dict, override: dict, path: str = "", strict: bool = True) -> dict:
    """Merge ``override`` into a copy of ``base``; with ``strict`` every key must already exist in base."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}.{key}" if path else str(key)
        if strict and key not in merged:
            raise HarnessError(f"unknown config key {where!r}{closest(key, merged)}; valid keys here: "
                               f"{', '.join(map(str, merged)) or 'none'}")
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = deep_merge(merged[key], value, where, strict)
        else:
            if strict:
                _check_type(where, merged.get(key), value)
            merged[key] = copy.deepcopy(value)
    return merged


def _check_type(where: str, default, value) -> None:
    if default is None or value is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str) or (default == "auto" and isinstance(value, bool))  # "auto" | true | false
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise HarnessError(f"config key {where!r} expects {type(default).__name__} (default {default!r}), "
                           f"got {type(value).__name__} {value!r}")


def parse_cfg_options(options: list[str] | None) -> dict:
    """``["train.epochs=3", "model.text.source=names"]`` → nested dict; values parsed as YAML scalars."""
    nested: dict = {}
    for option in options or []:
        key, sep, raw = option.partition("=")
        if not sep or not key:
            raise HarnessError(f"--cfg-options entry {option!r} must look like key.sub=value")
        try:
            value = load_yaml(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise HarnessError(f"--cfg-options sets both {part!r} and a key under it")
        node[parts[-1]] = value
    return nested


def _method_yaml(method: str, seen: tuple = ()) -> dict:
    """A method's YAML; an ablation variant (``variant_of: BASE``) is its base's YAML with the variant's
    ``model`` / ``train`` / ``embedded`` keys merged in — keys the base does not have are refused."""
    raw = _load_yaml(method_config_path(method))
    unknown = set(raw) - {"method", "model", "train", "embedded", "description", "official", "variant_of", "sweep"}
    if unknown:
        raise HarnessError(f"method config of {method!r} has unknown top-level keys: {', '.join(sorted(unknown))}")
    base = raw.get("variant_of")
    if not base:
        return raw
    if base in seen + (method,):
        raise HarnessError(f"method config of {method!r}: variant_of forms a cycle ({' → '.join(seen + (method, base))})")
    merged = copy.deepcopy(_method_yaml(base, seen + (method,)))
    for section in ("model", "train", "embedded"):
        if raw.get(section):
            merged[section] = deep_merge(merged.get(section) or {}, raw[section], f"{method}:{section}",
                                         strict=section == "model")
    merged["description"] = raw.get("description", merged.get("description"))
    merged["variant_of"] = base
    return merged


def method_defaults(method: str) -> dict:
    """The method's YAML with the engine defaults filled in (the schema every override is checked against)."""
    raw = _method_yaml(method)
    config = copy.deepcopy(ENGINE_DEFAULTS)
    config["method"] = method
    config["model"] = copy.deepcopy(raw.get("model") or {})
    config["train"] = deep_merge(TRAIN_DEFAULTS, raw.get("train") or {}, "train", strict=False)
    config["embedded"] = copy.deepcopy(raw.get("embedded") or {})
    return config


def build_config(method: str, embedded: bool, cfg_options: list[str] | None = None,
                 backbone: str | None = None, pretrained: str | None = None, unit: str | None = None) -> dict:
    """The validated run config. ``embedded`` applies the method's ``embedded:`` overrides (the embedded
    benchmark's small backbone and few epochs) and, for ``unit`` = ``"<protocol>/<dataset>"``, the entry of
    ``embedded.units`` for it (a schedule chosen for one protocol on one dataset, e.g. ``few_shot/toy-temporal``);
    ``--backbone``/``--pretrained`` replace the backbone; --cfg-options win over all of them."""
    config = method_defaults(method)
    overrides = config.pop("embedded")
    per_unit = overrides.pop("units", None) or {}
    if embedded and is_embedded_backbone(backbone):  # every toy size runs the same benchmark's schedules
        config = deep_merge(config, overrides, strict=True)
        if unit in per_unit:
            config = deep_merge(config, per_unit[unit], f"embedded.units.{unit}", strict=True)
    if backbone is not None:
        config["backbone"]["name"] = backbone
        if pretrained is None and not is_embedded_backbone(backbone):
            config["backbone"]["pretrained"] = "none"
    if pretrained is not None:
        config["backbone"]["pretrained"] = pretrained
    if not embedded:  # real datasets: decode workers per device (engine/training.resolve_num_workers)
        config["data"]["num_workers"] = -1
    config = deep_merge(config, parse_cfg_options(cfg_options), strict=True)
    _validate_values(config)
    return config


def sweep_scope(method: str) -> dict:
    """What the default ``sweep`` runs of a method: ``{"protocols": [...] | None, "shots": [...] | None}`` from
    its YAML's own top-level ``sweep:`` (not inherited from ``variant_of``; None = everything). An ablation
    variant asks one question on a few units, and the sweep's time budget has no room for the rest. Not part
    of the run config, so run ids do not depend on it; ``run`` ignores it."""
    raw = _load_yaml(method_config_path(method)).get("sweep") or {}
    if not isinstance(raw, dict) or set(raw) - {"protocols", "shots"}:
        raise HarnessError(f"method config of {method!r}: sweep: takes only 'protocols' and 'shots' lists "
                           f"(got {raw!r})")
    scope = {}
    for key, kind in (("protocols", str), ("shots", int)):
        value = raw.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, kind) for v in value)):
            raise HarnessError(f"method config of {method!r}: sweep.{key} must be a list of "
                               f"{'names' if kind is str else 'whole numbers'}, got {value!r}")
        scope[key] = value
    return scope


def embedded_units(method: str) -> set[str]:
    """The ``"<protocol>/<dataset>"`` keys for which the method's embedded config sets its own values."""
    return set((method_defaults(method)["embedded"].get("units") or {}))


def _validate_values(config: dict) -> None:
    runtime, data, train = config["runtime"], config["data"], config["train"]
    if runtime["checkpoint_selection"] not in ("last", "val"):
        raise HarnessError("runtime.checkpoint_selection must be 'last' or 'val' (checkpoints are never "
                           "selected on a test split)")
    if runtime["validation_only"] and not runtime["val_fraction"] > 0:
        raise HarnessError("runtime.validation_only=true needs runtime.val_fraction > 0 (the held-out slice of the "
                           "training list it evaluates); `python -m harness tune` sets both")
    if runtime["checkpoint_selection"] == "val" and not runtime["val_fraction"] > 0:
        raise HarnessError("runtime.checkpoint_selection=val needs runtime.val_fraction > 0 (a slice held out "
                           "from the training list)")
    from ..data.decoders import check_decoder

    check_decoder(data["decoder"])
    if data["num_workers"] < -1:
        raise HarnessError(f"data.num_workers must be ≥ 0, or -1 for per device (got {data['num_workers']})")
    if config["eval"]["limit"] < 0:
        raise HarnessError("eval.limit must be ≥ 0 (0 evaluates every video)")
    if config["eval"]["crops"] not in (1, 3):
        raise HarnessError("eval.crops must be 1 or 3")
    if not 0 <= data["max_failed_fraction"] <= 1:
        raise HarnessError("data.max_failed_fraction must be between 0 and 1")
    if train["batch_size"] < 1 or train["epochs"] < 0:
        raise HarnessError("train.batch_size must be ≥ 1 and train.epochs ≥ 0")
    _validate_schedule(train, runtime)


def _validate_schedule(train: dict, runtime: dict) -> None:
    """A schedule that cannot be what the user meant is refused before anything runs."""
    epochs, warmup = train["epochs"], train["warmup_epochs"]
    if warmup < 0:
        raise HarnessError(f"train.warmup_epochs must be ≥ 0 (got {warmup})")
    if epochs == 0 and warmup > 0:
        raise HarnessError(f"train.epochs=0 trains nothing but train.warmup_epochs={warmup}; to evaluate without "
                           "training also set train.warmup_epochs=0, else give train.epochs > warmup")
    if epochs > 0 and warmup > epochs:
        raise HarnessError(f"train.warmup_epochs={warmup} is longer than train.epochs={epochs}; the learning rate "
                           "would never reach its peak — lower warmup_epochs or raise epochs")
    lr = train["optimizer"].get("lr")
    if epochs > 0 and not (isinstance(lr, (int, float)) and lr > 0):
        raise HarnessError(f"train.optimizer.lr must be a positive number (got {lr!r})")
    if not 0 <= train["min_lr_ratio"] <= 1:
        raise HarnessError(f"train.min_lr_ratio must be between 0 and 1 (got {train['min_lr_ratio']})")
    if runtime["train_eval_videos"] < 0 or not 0 <= runtime["val_fraction"] < 1:
        raise HarnessError("runtime.train_eval_videos must be ≥ 0 and runtime.val_fraction in [0, 1)")
