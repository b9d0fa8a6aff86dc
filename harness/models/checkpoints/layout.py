"""How a method's official checkpoint is laid out, and the one mapping engine that reads and writes it.

A method declares its layout (``VideoCLIPMethod.official_layout``) next to its modules, from the official
repository's saving code and module names: which container entries hold weights (``Section``), how their
names map onto the harness's by prefix (``Rule``), which official tensors are deliberately dropped and why, and
which harness tensors the official file cannot hold (taken from the backbone, and why). Everything else is
generic: a tensor no rule maps, a harness parameter nothing fills, two tensors landing on one name, or a shape
that differs is an error — never a partial load.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import torch

from ...errors import HarnessError

WRAPPER = "module."  # what torch's DataParallel / DistributedDataParallel put before every name


@dataclass(frozen=True)
class Rule:
    """``official`` → ``harness`` name prefix. A prefix that does not end in "." names one exact tensor."""

    official: str
    harness: str

    def _matches(self, name: str, prefix: str) -> bool:
        return name.startswith(prefix) if prefix.endswith(".") or prefix == "" else name == prefix

    def forward(self, name: str) -> str | None:
        return self.harness + name[len(self.official):] if self._matches(name, self.official) else None

    def backward(self, name: str) -> str | None:
        return self.official + name[len(self.harness):] if self._matches(name, self.harness) else None


def rules(*pairs: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule(official, harness) for official, harness in pairs)


#: OpenAI CLIP names → the harness's open_clip names (open_clip keeps OpenAI's names under ``clip.``)
OPENAI_CLIP = rules(("", "clip."))

_OPENAI_FP16 = re.compile(r"(^|\.)(conv1\.weight|attn\.in_proj_(weight|bias)|attn\.out_proj\.(weight|bias)|"
                          r"mlp\.c_(fc|proj)\.(weight|bias)|D_fc[12]\.(weight|bias)|text_projection|proj)$")


def openai_fp16(official_name: str) -> bool:
    """Tensors OpenAI's ``clip/model.py: convert_weights`` keeps in fp16 (Conv/Linear weights and biases, the
    attention projections, ``text_projection`` and ``visual.proj``); EZ-CLIP and ActionCLIP train and save
    with it on the GPU, so their released checkpoints hold these in fp16 and the rest (LayerNorms,
    embeddings, prompts, logit_scale) in fp32."""
    return bool(_OPENAI_FP16.search(official_name))


@dataclass(frozen=True)
class Section:
    """One container entry of the official file (``key`` None: the file is the state dict itself)."""

    key: str | None
    rules: tuple[Rule, ...]
    wrapper: str = ""                                  # prefix the official saving adds (DataParallel/DDP)
    half: Callable[[str], bool] | None = None          # official names the official code saves in fp16


@dataclass(frozen=True)
class OfficialLayout:
    method: str
    name: str                                          # e.g. "EZ-CLIP train.py checkpoint"
    source: str                                        # repo:path of the code that saves it
    sections: tuple[Section, ...]
    dropped: tuple[tuple[str, str], ...] = ()          # (official name regex, why it is not loaded)
    from_backbone: tuple[tuple[str, str], ...] = ()    # (harness name regex, why the official file lacks it)
    fillers: Callable[[dict], dict] | None = None      # official-only tensors written on export (harness state → {})
    frame_tensors: tuple[tuple[str, int, int], ...] = ()  # (harness name regex, dim, offset): frames = shape[dim] - offset
    unsupported: tuple[tuple[str, str], ...] = ()       # (official name regex, what it is that the harness lacks)
    notes: tuple[str, ...] = ()

    def section_keys(self) -> list[str]:
        return [s.key for s in self.sections if s.key is not None]


@dataclass
class Report:
    """What a conversion did, for the one line ``convert`` prints and for the run record."""

    source: str
    format: str
    mapped: int = 0
    fp16: int = 0
    unwrapped: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)
    from_backbone: list[tuple[str, str]] = field(default_factory=list)
    not_weights: list[str] = field(default_factory=list)

    def line(self, target: str) -> str:
        parts = [f"{self.source}: format {self.format}; {self.mapped} tensors mapped onto {target}"]
        if self.fp16:
            parts.append(f"{self.fp16} fp16 → fp32")
        if self.unwrapped:
            parts.append(f"'{WRAPPER}' removed from {self.unwrapped} names")
        parts.append("dropped: " + (", ".join(f"{k} ({why})" for k, why in self.dropped) or "none"))
        if self.from_backbone:
            parts.append("from the backbone: " + ", ".join(f"{k} ({why})" for k, why in self.from_backbone))
        if self.not_weights:
            parts.append("not weights, not read: " + ", ".join(self.not_weights))
        return "; ".join(parts)


def _strip_wrapper(name: str) -> tuple[str, bool]:
    stripped = False
    while name.startswith(WRAPPER):
        name, stripped = name[len(WRAPPER):], True
    return name, stripped


def _first(items: list[str], count: int = 2) -> str:
    shown = ", ".join(items[:count])
    return shown + (f" and {len(items) - count} more" if len(items) > count else "")


def to_harness(sections: dict, layout: OfficialLayout, target: dict, report: Report, where: str,
               hint: Callable[[list, dict], str] | None = None) -> tuple[dict, dict]:
    """Official tensors (``sections``: container key or None → flat state dict) → the harness state dict of
    ``target``'s names, shapes and dtypes. Returns (state, official dtype per harness name)."""
    mapped: dict[str, tuple[str, torch.Tensor]] = {}
    unmapped, collisions = [], []
    for section in layout.sections:
        for name, tensor in sections.get(section.key, {}).items():
            name, stripped = _strip_wrapper(name)
            what = next((what for pattern, what in layout.unsupported if re.fullmatch(pattern, name)), None)
            if what is not None:
                raise HarnessError(f"checkpoint {where} holds {name}: {what}, which the harness's {layout.method} "
                                   "does not implement (nothing was loaded)")
            report.unwrapped += stripped
            why = next((why for pattern, why in layout.dropped if re.fullmatch(pattern, name)), None)
            if why is not None:
                report.dropped.append((name, why))
                continue
            harness_name = next((h for h in (rule.forward(name) for rule in section.rules) if h is not None), None)
            if harness_name is None or harness_name not in target:
                unmapped.append(name)
            elif harness_name in mapped:
                collisions.append(f"{mapped[harness_name][0]} and {name} → {harness_name}")
            else:
                mapped[harness_name] = (name, tensor)
    missing = []
    for name in target:
        if name in mapped:
            continue
        why = next((why for pattern, why in layout.from_backbone if re.fullmatch(pattern, name)), None)
        if why is None:
            missing.append(name)
        else:
            report.from_backbone.append((name, why))
    if collisions:
        raise HarnessError(f"checkpoint {where}: two tensors map onto one {layout.method} parameter "
                           f"({_first(collisions, 1)}); the file mixes two formats")
    mismatched = [(h, tuple(t.shape), tuple(target[h].shape)) for h, (_, t) in mapped.items()
                  if tuple(t.shape) != tuple(target[h].shape)]
    extra = hint(mismatched, {h: tuple(t.shape) for h, (_, t) in mapped.items()}) if hint and mismatched else ""
    if unmapped or missing:
        sides = []
        if unmapped:
            sides.append(f"{len(unmapped)} of its tensors map to no {layout.method} parameter ({_first(unmapped)})")
        if missing:
            sides.append(f"{len(missing)} {layout.method} parameters are not in it ({_first(missing)})")
        raise HarnessError(f"checkpoint {where} does not match {layout.method} as configured (read as "
                           f"{report.format}): {'; '.join(sides)}; "
                           f"{extra + '; ' if extra else ''}use the --method, --backbone and model.* options it was "
                           "trained with (nothing was loaded)")
    if mismatched:
        name, have, want = mismatched[0]
        raise HarnessError(f"checkpoint {where} does not fit {layout.method} as configured: {len(mismatched)} "
                           f"tensor shapes differ, e.g. {name} is {have} in the file but {want} here"
                           f"{'; ' + extra if extra else ''} (nothing was loaded)")
    state, dtypes = {}, {}
    for harness_name, (_, tensor) in mapped.items():
        want = target[harness_name]
        report.fp16 += tensor.dtype == torch.float16
        dtypes[harness_name] = str(tensor.dtype).removeprefix("torch.")
        state[harness_name] = tensor.detach().to(dtype=want.dtype).contiguous()
    for harness_name, _ in report.from_backbone:
        state[harness_name] = target[harness_name].detach().clone()
    report.mapped = len(mapped)
    return {k: state[k] for k in target}, dtypes


def to_official(state: dict, layout: OfficialLayout, dtypes: dict | None = None) -> tuple[dict, list[str], int]:
    """Harness state dict → the official container (dict of sections, or the bare state dict). Returns
    (container, harness names not written with why, number of fp16 tensors)."""
    out: dict = {section.key: {} for section in layout.sections}
    skipped, half = [], 0
    for name, tensor in state.items():
        why = next((why for pattern, why in layout.from_backbone if re.fullmatch(pattern, name)), None)
        if why is not None:
            skipped.append(f"{name} ({why})")
            continue
        for section in layout.sections:
            official = next((o for o in (rule.backward(name) for rule in section.rules) if o is not None), None)
            if official is not None:
                break
        else:
            raise HarnessError(f"{layout.method} parameter {name} has no place in {layout.name}; the method's "
                               "official_layout() is incomplete")
        dtype = (dtypes or {}).get(name)
        if dtype is not None:
            dtype = getattr(torch, dtype)
        elif section.half is not None and section.half(official) and tensor.is_floating_point():
            dtype = torch.float16
        else:
            dtype = tensor.dtype
        half += dtype == torch.float16
        out[section.key][section.wrapper + official] = tensor.detach().to(dtype=dtype).contiguous()
    if layout.fillers is not None:
        for key, tensors in layout.fillers(state).items():
            section = next(s for s in layout.sections if s.key == key)
            out[key].update({section.wrapper + k: v for k, v in tensors.items()})
    if list(out) == [None]:
        return out[None], skipped, half
    return out, skipped, half
