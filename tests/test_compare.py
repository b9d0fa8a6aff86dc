"""harness.reports.compare: figures equal the stats functions; refuses incomparable runs; CLI by run_id and path."""
from __future__ import annotations

import argparse
import json

import pytest

import fake_records as fake
from harness.reports import compare, stats
from harness.errors import HarnessError


def _b2n(method: str, seed: int = 1) -> dict:
    base, novel = fake.b2n_correct(method, seed)
    return fake.record(method, "base2novel", "toy", {"seed": seed, "shots": 16}, [
        fake.evaluation("base", "toy", "base_val", base, "b2n/base"),
        fake.evaluation("novel", "toy", "novel_val", novel, "b2n/novel")])


def test_compare_matches_stats():
    result = compare.compare_records(_b2n("ezclip"), _b2n("clip"))
    assert [r["name"] for r in result["evaluations"]] == ["base", "novel"]
    ps = []
    for row, idx in zip(result["evaluations"], (0, 1)):
        a, b = fake.b2n_correct("ezclip", 1)[idx], fake.b2n_correct("clip", 1)[idx]
        boot = stats.paired_bootstrap_diff(a, b)
        mc = stats.mcnemar_exact(a, b)
        ps.append(mc["p"])
        assert row["acc_a"] == pytest.approx(sum(a) / len(a)) and row["acc_b"] == pytest.approx(sum(b) / len(b))
        assert (row["diff"], row["low"], row["high"], row["p_bootstrap"]) == \
            (boot["diff"], boot["low"], boot["high"], boot["p"])
        assert (row["n01"], row["n10"], row["p_mcnemar"]) == (mc["n01"], mc["n10"], mc["p"])
    assert result["evaluations"][0]["acc_a"] == pytest.approx(0.70)
    assert [r["p_mcnemar_holm"] for r in result["evaluations"]] == stats.holm(ps)
    text = compare.report(result)
    assert "70.0" in text and "40.0" in text and "McNemar" in text


def test_compare_skips_evaluations_with_other_videos():
    a, b = _b2n("ezclip"), _b2n("clip")
    b["evaluations"][1]["predictions"] = b["evaluations"][1]["predictions"][:-1]  # one video fewer
    result = compare.compare_records(a, b)
    assert [r["name"] for r in result["evaluations"]] == ["base"]
    assert result["not_comparable"] == ["novel"]


def test_compare_refuses_without_shared_videos():
    fs = fake.record("clip", "few_shot", "toy", {"seed": 1, "shots": 2},
                     [fake.evaluation("test", "toy", "test", fake.correct_pattern(60, 30), "fs/test")])
    with pytest.raises(HarnessError, match="no evaluation name"):
        compare.compare_records(_b2n("ezclip"), fs)
    other = _b2n("clip")
    for ev in other["evaluations"]:
        for p in ev["predictions"]:
            p["video"] = "other/" + p["video"]
    with pytest.raises(HarnessError, match="identical videos"):
        compare.compare_records(_b2n("ezclip"), other)


def _parser():
    parser = argparse.ArgumentParser(prog="harness")
    compare.add_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_by_run_id_and_path(tmp_path, capsys):
    records = tmp_path / "records"
    rec_a, rec_b = _b2n("ezclip"), _b2n("vificlip")
    fake.write(records, rec_a)
    path_b = fake.write(records, rec_b)
    args = _parser().parse_args(["compare", rec_a["run_id"], str(path_b), "--records", str(records), "--json"])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = json.loads(json.dumps(compare.compare_records(rec_a, rec_b)))
    assert printed == expected
    args = _parser().parse_args(["compare", rec_a["run_id"], rec_b["run_id"], "--records", str(records)])
    assert args.func(args) == 0
    assert "vificlip" in capsys.readouterr().out


def test_cli_unknown_run_id(tmp_path):
    records = tmp_path / "records"
    rec = _b2n("ezclip")
    fake.write(records, rec)
    args = _parser().parse_args(["compare", rec["run_id"][:-1] + "x", rec["run_id"], "--records", str(records)])
    with pytest.raises(HarnessError, match="did you mean"):
        args.func(args)


def test_compare_finds_a_user_run_and_a_reference_run_by_id(tmp_path, monkeypatch, capsys):
    """Without --records, run ids are looked up in the user's records, then in the committed reference."""
    from harness import paths
    from harness.reports import compare as compare_module

    user, reference = tmp_path / "user", tmp_path / "reference"
    rec_a, rec_b = _b2n("ezclip"), _b2n("clip")
    fake.write(user, rec_a)
    fake.write(reference, rec_b)
    monkeypatch.setenv("HARNESS_RECORDS", str(user))
    monkeypatch.setattr(paths, "reference_records_dir", lambda: reference)
    args = _parser().parse_args(["compare", rec_a["run_id"], rec_b["run_id"], "--json"])
    assert compare_module.handler(args) == 0
    assert json.loads(capsys.readouterr().out)["run_b"] == rec_b["run_id"]
