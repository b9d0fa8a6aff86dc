"""What a dataset definition says about each protocol: the protocol names, and the lists each protocol takes
from the definition (zero-shot source or target, base-to-novel per seed, few-shot per K)."""
from __future__ import annotations

from typing import Iterable

from ..errors import HarnessError, closest
from .video_list import VideoList

PROTOCOLS = ("zero_shot", "base2novel", "few_shot")
_PROTOCOL_ALIASES = {
    "zero_shot": "zero_shot", "zeroshot": "zero_shot", "zs": "zero_shot",
    "base2novel": "base2novel", "base_to_novel": "base2novel", "b2n": "base2novel",
    "few_shot": "few_shot", "fewshot": "few_shot", "fs": "few_shot",
}


def canonical_protocol(name: str) -> str:
    """'zero-shot' / 'zero_shot' / 'base-to-novel' / 'few-shot' ... → one of PROTOCOLS."""
    key = str(name).strip().lower().replace("-", "_")
    if key in _PROTOCOL_ALIASES:
        return _PROTOCOL_ALIASES[key]
    raise HarnessError(f"unknown protocol {name!r}{closest(key, PROTOCOLS)}; known: {', '.join(PROTOCOLS)}")


class ProtocolViews:
    """The protocol accessors of :class:`~harness.data.definition.DatasetDefinition` (a mixin: it reads the
    definition's ``spec``, ``name``, ``source`` and its ``split`` / ``_class_file`` / ``_ref``)."""

    def protocols(self) -> list[str]:
        return [p for p in PROTOCOLS if p in (self.spec.get("protocols") or {})]

    def supports(self, protocol: str) -> bool:
        """Whether the definition defines the protocol (its files may still be absent: see ``check``)."""
        return canonical_protocol(protocol) in self.protocols()

    def _protocol_spec(self, protocol: str, required: bool = True) -> dict | None:
        protocol = canonical_protocol(protocol)
        spec = (self.spec.get("protocols") or {}).get(protocol)
        if spec is None and required:
            raise HarnessError(
                f"dataset {self.name!r} does not define protocol {protocol!r} "
                f"(it defines: {', '.join(self.protocols()) or 'none'})"
            )
        return spec

    def protocol_splits(self, protocol: str) -> list[str]:
        """The split names a protocol uses (train lists first)."""
        protocol = canonical_protocol(protocol)
        spec = self._protocol_spec(protocol)
        if protocol == "zero_shot":
            return [spec["train"]] if spec["role"] == "source" else list(self._zs_evals(spec))
        if protocol == "base2novel":
            return _unique([*spec["train"].values(), spec["eval_base"], spec["eval_novel"]])
        return _unique([*spec["train"].values(), spec["eval"], *([spec["pool"]] if spec.get("pool") else [])])

    # zero-shot
    def zero_shot_role(self) -> str | None:
        """'source' (trained on), 'target' (evaluated on) or None (not in the zero-shot protocol)."""
        spec = self._protocol_spec("zero_shot", required=False)
        return spec["role"] if spec else None

    def zero_shot_source(self) -> str | None:
        """The dataset this target's zero-shot protocol trains on (yaml ``source:``), if declared."""
        spec = self._protocol_spec("zero_shot", required=False) or {}
        return spec.get("source")

    def zero_shot_exclusive(self) -> bool:
        """Whether the target's classes are meant to be disjoint from the source's (K-600 splits)."""
        spec = self._protocol_spec("zero_shot", required=False) or {}
        return bool(spec.get("exclusive", False))

    @staticmethod
    def _zs_evals(spec: dict) -> list[str]:
        evals = spec.get("eval") or []
        return [evals] if isinstance(evals, str) else list(evals)

    def zero_shot_train(self) -> VideoList:
        spec = self._protocol_spec("zero_shot")
        if spec["role"] != "source":
            raise HarnessError(f"dataset {self.name!r} is a zero-shot target; train on the source dataset instead")
        return self.split(spec["train"])

    def zero_shot_evals(self) -> dict[str, VideoList]:
        spec = self._protocol_spec("zero_shot")
        if spec["role"] != "target":
            raise HarnessError(f"dataset {self.name!r} is the zero-shot source; it has no zero-shot evaluation lists")
        return {split: self.split(split) for split in self._zs_evals(spec)}

    # base-to-novel
    def base2novel_seeds(self) -> list[int]:
        spec = self._protocol_spec("base2novel")
        return sorted(int(s) for s in spec["train"])

    def base_class_names(self) -> list[str]:
        spec = self._protocol_spec("base2novel")
        return list(self._class_file(self._ref("base2novel.base_classes", spec["base_classes"]), "base class-name file").names)

    def novel_class_names(self) -> list[str]:
        spec = self._protocol_spec("base2novel")
        return list(self._class_file(self._ref("base2novel.novel_classes", spec["novel_classes"]), "novel class-name file").names)

    def base2novel(self, seed: int) -> tuple[VideoList, VideoList, VideoList]:
        """(train over the base classes for this seed, eval over base, eval over novel); each 0..n-1."""
        spec = self._protocol_spec("base2novel")
        train = {int(k): v for k, v in spec["train"].items()}
        if int(seed) not in train:
            raise HarnessError(f"dataset {self.name!r} has no base2novel seed {seed} (seeds: {', '.join(map(str, sorted(train)))})")
        return self.split(train[int(seed)]), self.split(spec["eval_base"]), self.split(spec["eval_novel"])

    # few-shot
    def few_shot_shots(self) -> list[int]:
        spec = self._protocol_spec("few_shot")
        return sorted(int(k) for k in spec["train"])

    def few_shot(self, shots: int) -> tuple[VideoList, VideoList]:
        """(K-shot train list over all classes, evaluation list)."""
        spec = self._protocol_spec("few_shot")
        train = {int(k): v for k, v in spec["train"].items()}
        if int(shots) not in train:
            raise HarnessError(
                f"dataset {self.name!r} has no {shots}-shot list (shots: {', '.join(map(str, sorted(train)))})"
            )
        return self.split(train[int(shots)]), self.split(spec["eval"])

    def few_shot_pool(self) -> tuple[VideoList, VideoList]:
        """(the training pool K-shot lists are drawn from, evaluation list): yaml ``few_shot.pool``."""
        spec = self._protocol_spec("few_shot")
        if not spec.get("pool"):
            raise HarnessError(
                f"dataset {self.name!r} declares no few_shot.pool (the list to draw K-shot sets from); "
                f"use its fixed K-shot lists (seed 1) or add 'pool: <split>' to {self.source.name}"
            )
        return self.split(spec["pool"]), self.split(spec["eval"])


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
