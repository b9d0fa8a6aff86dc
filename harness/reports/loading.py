"""Run records as the tables read them: every record under a folder (other JSON files skipped), the row each
goes to, and the newest record per unit when a unit was re-run."""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

from ..errors import HarnessError
from .outcomes import created_key

log = logging.getLogger(__name__)


PROTOCOLS = ("base2novel", "zero_shot", "few_shot")


_ALIASES = {"base2novel": "base2novel", "base_to_novel": "base2novel", "b2n": "base2novel",
            "zero_shot": "zero_shot", "zeroshot": "zero_shot", "zero-shot": "zero_shot",
            "few_shot": "few_shot", "fewshot": "few_shot", "few-shot": "few_shot"}


_RECORD_KEYS = ("schema_version", "run_id", "method", "protocol", "dataset", "unit", "evaluations")


def load_records(records_dir: Path) -> tuple[list[dict], list[Path]]:
    """All run records under ``records_dir`` (sorted by path) and the JSON files that are not records."""
    records_dir = Path(records_dir)
    if not records_dir.is_dir():
        raise HarnessError(f"records folder {records_dir} does not exist; run `python -m harness run` first "
                           f"or pass --records DIR")
    records, skipped = [], []
    for path in sorted(records_dir.rglob("*.json")):
        if path.relative_to(records_dir).parts[0] == "diagnostics":
            continue  # diagnostic records (harness.diagnostics.store): read by their own tables, not run records
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"malformed JSON in {path} (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                               f"fix or remove the file") from None
        except UnicodeDecodeError:
            raise HarnessError(f"{path} is not UTF-8 text; fix or remove the file") from None
        if not (isinstance(data, dict) and all(k in data for k in _RECORD_KEYS)
                and isinstance(data["protocol"], dict) and isinstance(data["evaluations"], list)):
            skipped.append(path)
            continue
        if data["schema_version"] != 1:
            raise HarnessError(f"{path} has schema_version {data['schema_version']!r}; this harness reads 1")
        data = dict(data, method=table_method(data), _path=path.relative_to(records_dir).as_posix())
        records.append(data)
    if skipped:
        log.warning("skipped %d JSON file(s) that are not run records: %s", len(skipped),
                    ", ".join(p.relative_to(records_dir).as_posix() for p in skipped))
    return records, skipped


def table_method(record: dict) -> str:
    """The row a record goes to: a released (official) checkpoint's evaluation is ``M (released)``, its own row
    beside the user's runs of M — otherwise the newer of the two would silently replace the other (dedup)."""
    checkpoint = record.get("checkpoint") or {}
    official = checkpoint.get("converted_from") or (
        checkpoint.get("format") and checkpoint["format"] not in ("harness state dict", "mmengine checkpoint"))
    return f"{record['method']} (released)" if official or record.get("reproduction") else record["method"]


def deduplicate(records: list[dict]) -> tuple[list[dict], list[tuple[dict, dict]]]:
    """Keep the newest record per (method, protocol, dataset, unit); return (kept, [(superseded, winner)])."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        key = (rec["method"], protocol_name(rec), rec["dataset"], json.dumps(rec["unit"], sort_keys=True))
        groups[key].append(rec)
    kept, superseded = [], []
    for key in sorted(groups):
        ordered = sorted(groups[key], key=created_key)
        winner = ordered[-1]
        kept.append(winner)
        superseded.extend((old, winner) for old in ordered[:-1])
    return kept, superseded


def protocol_name(record: dict) -> str:
    name = str(record["protocol"].get("name", ""))
    return _ALIASES.get(name.lower(), name)


def backbone_of(record: dict) -> tuple[str, str]:
    """(backbone architecture, weights tag) a run record was produced with."""
    model = record.get("model") or {}
    config_backbone = (record.get("config") or {}).get("backbone") or {}
    backbone = model.get("backbone") or config_backbone.get("name") or "?"
    pretrained = model.get("pretrained") or config_backbone.get("pretrained") or "?"
    return str(backbone), str(pretrained)


def main_backbone(records: list[dict]) -> tuple[str, str] | None:
    """The (backbone, weights) most records were run with (ties: the embedded default toy-vit, then by name).

    Why: the protocol tables compare methods on one backbone; base-to-novel runs on other backbones
    (``analyze backbones``) are the backbone axis, and must not supersede the main runs of the same unit."""
    from ..models.backbones import EMBEDDED_BACKBONE

    counts: dict[tuple[str, str], int] = defaultdict(int)
    for rec in records:
        counts[backbone_of(rec)] += 1
    if not counts:
        return None
    return min(counts, key=lambda b: (-counts[b], b != (EMBEDDED_BACKBONE, "embedded"), b))


def on_main_backbone(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(records on :func:`main_backbone`, the others): the protocol tables read the first, the backbone axis all."""
    main = main_backbone(records)
    return [r for r in records if backbone_of(r) == main], [r for r in records if backbone_of(r) != main]
