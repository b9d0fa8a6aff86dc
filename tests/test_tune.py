"""``tune`` scores grid points on the held-out slice of the training list and never reads a test list."""
from __future__ import annotations

import json

from harness.cli import main


def test_tune_scores_held_out_training_videos_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    out = tmp_path / "table.md"
    status = main(["tune", "--method", "ezclip", "--protocol", "few_shot", "--dataset", "toy-temporal", "--shots", "4",
                   "--grid", "train.epochs=1,2", "--cfg-options", "runtime.train_eval_videos=8", "--out", str(out)])
    assert status == 0
    records = sorted((tmp_path / "work" / "tuning" / "records").rglob("*.json"))
    assert len(records) == 2  # one per grid point, in their own folder (not the user's records)
    for path in records:
        record = json.loads(path.read_text())
        assert record["evaluations"] == []  # the test list was not evaluated
        validation = record["training"]["validation"]
        assert validation["name"] == "val-holdout" and validation["metrics"]["n_videos"] == 10  # 1 of 4 per class
        assert record["config"]["runtime"]["validation_only"] is True
    assert {json.loads(p.read_text())["training"]["iterations"] for p in records} == {2, 4}
    table = out.read_text()
    assert "train.epochs" in table
    assert "◀" in table and "held-out top-1" in table and table.count("\n|") == 4  # header, rule, two rows
