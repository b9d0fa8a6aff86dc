"""Methods by name, registered lazily as ``"module:Class"`` strings (lm-evaluation-harness style), so a method
whose import breaks (a missing optional dependency, a bug) cannot break the CLI or the other methods.

Third-party methods register with :func:`register_method` from a module the CLI imports with ``--plugin``,
or through the ``videoclip_harness.methods`` entry-point group (value ``"module:Class"``).
"""
from __future__ import annotations

import importlib
import importlib.util
from importlib import metadata
from pathlib import Path

from ..errors import HarnessError, closest
from ..paths import REPO_ROOT

CONFIG_DIR = REPO_ROOT / "methods" / "configs"

_METHODS: dict[str, dict] = {
    "clip": dict(target="methods.clip:FrozenCLIP", config=CONFIG_DIR / "clip.yaml"),
    "ezclip": dict(target="methods.ezclip:EZCLIP", config=CONFIG_DIR / "ezclip.yaml"),
    "actionclip": dict(target="methods.actionclip:ActionCLIP", config=CONFIG_DIR / "actionclip.yaml"),
    "xclip": dict(target="methods.xclip:XCLIP", config=CONFIG_DIR / "xclip.yaml"),
    "vificlip": dict(target="methods.vificlip:ViFiCLIP", config=CONFIG_DIR / "vificlip.yaml"),
    "froster": dict(target="methods.froster:FROSTER", config=CONFIG_DIR / "froster.yaml"),
    "openvclip": dict(target="methods.openvclip:OpenVCLIP", config=CONFIG_DIR / "openvclip.yaml"),
}
_entry_points_loaded = False
_variants_loaded = False


def _load_variants() -> None:
    """Ablation variants are config files only (``methods/configs/NAME.yaml`` with ``variant_of: BASE``):
    they run the base's class with the variant's options, under their own name in run ids and tables."""
    global _variants_loaded
    if _variants_loaded:
        return
    _variants_loaded = True
    import yaml

    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        if path.stem in _METHODS:
            continue
        try:
            base = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("variant_of")
        except (OSError, yaml.YAMLError):
            continue  # reported when the method is used (config.py reads it again and names the problem)
        if base in _METHODS:
            _METHODS[path.stem] = dict(target=_METHODS[base]["target"], config=path, variant_of=base)


def register_method(name: str, target: str, config: str | Path | None = None) -> None:
    """Register (or replace) a method: ``target`` is ``"module:Class"``, ``config`` its YAML file.

    A relative ``config`` is found beside the module that calls this (not in the working directory, so a
    plugin runs from anywhere); without one, ``<module>.yaml`` beside the target's module is used.
    """
    import inspect

    if ":" not in target:
        raise HarnessError(f"method target {target!r} must look like 'package.module:ClassName'")
    if config is None:
        spec = importlib.util.find_spec(target.partition(":")[0])
        if spec is None or not spec.origin:
            raise HarnessError(f"method {name!r}: module of {target!r} not found; put its package on PYTHONPATH")
        config = Path(spec.origin).with_suffix(".yaml")
    config = Path(config)
    if not config.is_absolute():
        caller = inspect.currentframe().f_back.f_globals.get("__file__")
        config = (Path(caller).resolve().parent if caller else Path.cwd()) / config
    _METHODS[name] = dict(target=target, config=config)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in metadata.entry_points(group="videoclip_harness.methods"):
        module = entry.value.split(":")[0]
        config = Path(importlib.util.find_spec(module).origin).with_suffix(".yaml")
        _METHODS.setdefault(entry.name, dict(target=entry.value, config=config))


def list_methods() -> list[str]:
    _load_entry_points()
    _load_variants()
    return sorted(_METHODS)


def method_entry(name: str) -> dict:
    _load_entry_points()
    _load_variants()
    if name not in _METHODS:
        raise HarnessError(f"unknown method {name!r}{closest(name, _METHODS)}; known methods: "
                           f"{', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def method_class(name: str):
    """Import the method's class now; an import failure names the method and the error."""
    target = method_entry(name)["target"]
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except Exception as error:
        raise HarnessError(f"method {name!r} could not be imported from {target} ({type(error).__name__}: "
                           f"{error}); the other methods are unaffected") from None


def method_config_path(name: str) -> Path:
    path = Path(method_entry(name)["config"])
    if not path.is_file():
        raise HarnessError(f"config of method {name!r} not found at {path}")
    return path
