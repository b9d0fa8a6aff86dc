"""Protocol definitions (``protocols/*.yaml``) and their expansion into units of work.

A unit is one training (or none) followed by its evaluations: base-to-novel = one dataset × one seed
(evaluations ``base`` and ``novel``); few-shot = one dataset × one K × one seed (evaluation ``test``);
zero-shot = one source training, evaluated on every split of every target. The same code expands the
embedded benchmark and the real datasets; only the dataset definitions differ.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import yaml

from ..errors import HarnessError, closest
from ..paths import REPO_ROOT

PROTOCOL_DIR = REPO_ROOT / "protocols"
ALIASES = {"zero-shot": "zero_shot", "zeroshot": "zero_shot", "few-shot": "few_shot", "fewshot": "few_shot",
           "base-to-novel": "base2novel", "b2n": "base2novel"}


def list_protocols() -> list[str]:
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def load_protocol(name: str) -> dict:
    name = ALIASES.get(name, name)
    path = PROTOCOL_DIR / f"{name}.yaml"
    if not path.is_file():
        known = list_protocols()
        raise HarnessError(f"unknown protocol {name!r}{closest(name, known)}; known protocols: {', '.join(known)}")
    raw = path.read_bytes()
    protocol = yaml.safe_load(raw)
    protocol["hash"] = hashlib.sha256(raw).hexdigest()
    protocol["path"] = str(path)
    return protocol


@dataclass
class Unit:
    protocol: str
    dataset: str                  # the dataset the unit is filed under (zero-shot: the source)
    seed: int
    shots: int | None = None
    train: object | None = None   # harness.data.catalog.VideoList
    evaluations: list = field(default_factory=list)  # [(name, target dataset, split, VideoList)]
    file_hashes: dict = field(default_factory=dict)

    def key(self) -> dict:
        return dict(seed=self.seed, shots=self.shots)

    def label(self) -> str:
        parts = [self.protocol, self.dataset, f"seed{self.seed}"]
        if self.shots is not None:
            parts.insert(2, f"{self.shots}shot")
        return "-".join(parts)


def expand_units(protocol: dict, datasets: list, source=None, seeds: list[int] | None = None,
                 shots: list[int] | None = None, train_source: bool = True) -> list[Unit]:
    """Units of ``protocol`` over loaded dataset definitions (``harness.data.catalog.DatasetDefinition``)."""
    name = protocol["name"]
    seeds = list(seeds or protocol.get("seeds") or [1])
    units: list[Unit] = []
    if name == "base2novel":
        for dataset in datasets:
            _require(dataset, name)
            for seed in seeds:
                train, base, novel = dataset.base2novel(seed)
                units.append(Unit(name, dataset.name, seed, protocol.get("shots"), train,
                                  [("base", dataset.name, base.name, base), ("novel", dataset.name, novel.name, novel)],
                                  dataset.file_hashes()))
    elif name == "few_shot":
        for dataset in datasets:
            _require(dataset, name)
            for k in shots or protocol["shots"]:
                for seed in seeds:
                    train, test = dataset.few_shot(k) if _fixed_draw(dataset) else _few_shot_seeded(dataset, k, seed)
                    units.append(Unit(name, dataset.name, seed, k, train, [("test", dataset.name, test.name, test)],
                                      dataset.file_hashes()))
    elif name == "zero_shot":
        evaluations, hashes = [], {}
        for dataset in datasets:
            if dataset.zero_shot_role() != "target":
                raise HarnessError(f"dataset {dataset.name!r} is not a zero-shot target; targets are evaluated, "
                                   "the source is given with --source")
            for split, video_list in dataset.zero_shot_evals().items():
                evaluations.append((f"{dataset.name}/{split}", dataset.name, split, video_list))
            hashes.update(dataset.file_hashes())
        train = None
        if train_source and source is not None:
            if source.zero_shot_role() != "source":
                raise HarnessError(f"dataset {source.name!r} has no zero-shot source role (a training list); "
                                   "choose a source such as kinetics400 or toy-source")
            train = source.zero_shot_train()
            hashes.update(source.file_hashes())
        # a method that does not train here is filed under what it evaluates, not under a source it never saw
        filed_as = source.name if train is not None else "+".join(dataset.name for dataset in datasets)
        for seed in seeds:
            units.append(Unit(name, filed_as, seed, None, train, evaluations, hashes))
    else:
        raise HarnessError(f"protocol {name!r} has no expansion rule")
    return units


def _require(dataset, protocol_name: str) -> None:
    if not dataset.supports(protocol_name):
        raise HarnessError(f"dataset {dataset.name!r} does not define the {protocol_name} protocol; "
                           "`python -m harness list` shows which datasets support which protocols")


def _fixed_draw(dataset) -> bool:
    """Real datasets ship one official draw per K; the embedded benchmark draws per seed."""
    return getattr(dataset, "kind", "real") != "embedded"


def _few_shot_seeded(dataset, shots: int, seed: int):
    """K-shot draw per seed from the dataset's own K-shot file for seed 1, else from its train pool."""
    if seed == 1:
        return dataset.few_shot(shots)
    from dataclasses import replace

    from ..data.splits import draw_k_shot

    pool, test = dataset.few_shot_pool()
    entries = draw_k_shot(pool.entries, range(len(pool.class_names)), shots, seed)
    return replace(pool, name=f"train_few_shot_{shots}_seed{seed}", entries=entries), test
