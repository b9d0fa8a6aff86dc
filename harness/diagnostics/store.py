"""Diagnostic records: one JSON file per (analysis kind, analysed run), under ``<records>/diagnostics/<kind>/
<method>/<dataset>/<analysis_id>.json``. They are not run records (the protocol tables never read them,
``harness.reports.loading`` skips this folder); ``tables`` reads them with :func:`load_diagnostics`."""
from __future__ import annotations

import json
from pathlib import Path

from ..engine import records as rec
from ..errors import HarnessError

FOLDER = "diagnostics"
KINDS = ("temporal", "motion", "attention")
SCHEMA_VERSION = 1


def analysis_id(kind: str, source_run_id: str, settings: dict) -> str:
    """Stable id: the kind, the analysed run and a hash of the analysis settings (views, seed, checkpoint)."""
    return f"{kind}-{source_run_id}-{rec.config_hash(settings)[:8]}"


def diagnostic_path(records_dir: Path, kind: str, method: str, dataset: str, ident: str) -> Path:
    return Path(records_dir) / FOLDER / kind / method / dataset / f"{ident}.json"


def write_diagnostic(record: dict, path: Path) -> Path:
    return rec.write_record(record, path)


def load_diagnostics(records_dir: Path, kind: str) -> list[dict]:
    """Every diagnostic record of ``kind`` under ``records_dir`` (newest per (method, dataset, source run))."""
    folder = Path(records_dir) / FOLDER / kind
    found: dict[tuple, dict] = {}
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HarnessError(f"malformed diagnostic record {path}; delete it and rerun `python -m harness analyze "
                               f"{kind}`") from None
        if not isinstance(data, dict) or data.get("kind") != kind or "source" not in data:
            raise HarnessError(f"{path} is not a {kind} diagnostic record (no kind/source fields); remove it from "
                               f"{folder}")
        data["_path"] = path.relative_to(records_dir).as_posix()
        key = (data["method"], data["dataset"], data["source"]["run_id"])
        if key not in found or str(data.get("created_utc")) >= str(found[key].get("created_utc")):
            found[key] = data
    return [found[k] for k in sorted(found)]
