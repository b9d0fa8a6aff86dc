"""``sweep --workers 2`` runs its jobs in two processes and writes the records a sequential sweep writes."""
from __future__ import annotations

import json

from harness.cli import main

ARGS = ["--methods", "clip", "--protocols", "base2novel", "few_shot", "--datasets", "toy-temporal", "--seeds", "1",
        "--cfg-options", "eval.limit=12"]


def _records(root):
    out = {}
    for path in sorted(root.rglob("*.json")):
        record = json.loads(path.read_text())
        out[path.relative_to(root).as_posix()] = [(e["name"], e["predictions"]) for e in record["evaluations"]]
    return out


def test_two_workers_write_the_records_of_a_sequential_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    assert main(["sweep", *ARGS, "--records", str(tmp_path / "seq"), "--results", str(tmp_path / "seq-results")]) == 0
    assert main(["sweep", *ARGS, "--workers", "2", "--records", str(tmp_path / "par"),
                 "--results", str(tmp_path / "par-results")]) == 0
    out = capsys.readouterr().out
    assert "[sweep] clip few_shot: started" in out and "[sweep] clip base2novel: done" in out
    sequential, parallel = _records(tmp_path / "seq"), _records(tmp_path / "par")
    assert len(sequential) == 5 and sequential == parallel  # same run ids (paths) and the same predictions
    assert (tmp_path / "par" / "sweep-logs" / "clip-few_shot.log").is_file()
