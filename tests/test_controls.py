"""results/controls: every method vs frozen clip on time-reversal pairs — the positive control is marked only
where it is there, the negative control shows as direction near chance, ablation variants stay out."""
from __future__ import annotations

import csv

from harness.reports import tables
from tests import fake_records as fake

N = 200  # 5 classes (fake_records): chance 20 %, 3× chance 60 %


def _fs(method: str, correct: int, direction_right: int, train_top1: float | None = 0.9) -> dict:
    ev = fake.evaluation("test", "toy-temporal", "test", fake.correct_pattern(N, correct, seed=1),
                         prefix="toy-temporal", direction=fake.correct_pattern(N, direction_right, seed=2))
    rec = fake.record(method, "few_shot", "toy-temporal", {"seed": 1, "shots": 16}, [ev])
    if rec["training"] is not None:
        rec["training"]["train_top1"] = train_top1
    return rec


def test_controls_table_marks_what_beats_clip_and_leaves_variants_out(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    for rec in (_fs("clip", 30, 100), _fs("xclip", 130, 140, 0.95), _fs("vificlip", 34, 101, 0.5),
                _fs("ezclip-no-prompts", 130, 140)):
        fake.write(records, rec)
    tables.build_tables(records, results)
    rows = {r["method"]: r for r in csv.DictReader((results / "controls.csv").open(encoding="utf-8"))}
    assert set(rows) == {"clip", "xclip", "vificlip"}  # the ablation variant belongs to the ablations table
    assert rows["xclip"]["ge_3x_chance"] == "1" and float(rows["xclip"]["holm_p"]) < 0.05
    assert float(rows["xclip"]["train_top1_pct"]) == 95.0 and float(rows["xclip"]["direction_pct"]) == 70.0
    assert rows["vificlip"]["ge_3x_chance"] == "0" and float(rows["vificlip"]["holm_p"]) > 0.05
    assert float(rows["vificlip"]["direction_mcnemar_p"]) > 0.5  # 101 vs 100 of 200: nothing to detect
    text = (results / "controls.md").read_text(encoding="utf-8")
    assert "| toy-temporal | 16  | xclip" in text and "†" in text.split("| xclip")[1].split("\n")[0]
    assert "†" not in text.split("| vificlip")[1].split("\n")[0]
