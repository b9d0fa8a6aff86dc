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


def _sweep_args(*extra):
    import argparse

    from harness.engine import sweep

    parser = argparse.ArgumentParser()
    sweep.add_parser(parser.add_subparsers())
    return parser.parse_args(["sweep", *extra])


def test_ablation_variants_sweep_only_the_units_their_config_names():
    """methods/configs/ezclip-no-*.yaml say `sweep: {protocols: [few_shot], shots: [16]}`: the default sweep
    runs them there and nowhere else, full EZ-CLIP everywhere; naming datasets lifts the scope."""
    from pathlib import Path

    from harness.engine import sweep

    args = _sweep_args("--methods", "ezclip", "ezclip-no-motion-loss")
    assert sweep._jobs(args) == [("ezclip", "zero_shot"), ("ezclip", "base2novel"), ("ezclip", "few_shot"),
                                 ("ezclip-no-motion-loss", "few_shot")]
    argv = sweep._run_argv("ezclip-no-motion-loss", "few_shot", args, Path("r"))
    assert argv[argv.index("--shots") + 1] == "16" and argv.count("--shots") == 1
    assert "--shots" not in sweep._run_argv("ezclip", "few_shot", args, Path("r"))
    named = _sweep_args("--methods", "ezclip-no-motion-loss", "--datasets", "toy-temporal")
    assert len(sweep._jobs(named)) == 3 and "--shots" not in sweep._run_argv("ezclip-no-motion-loss", "few_shot",
                                                                             named, Path("r"))


def test_a_malformed_sweep_scope_is_one_line(tmp_path, monkeypatch):
    import pytest

    from harness.engine import config
    from harness.errors import HarnessError

    bad = tmp_path / "m.yaml"
    bad.write_text("method: m\nsweep: {protocols: few_shot}\n")
    monkeypatch.setattr(config, "method_config_path", lambda method: bad)
    with pytest.raises(HarnessError, match=r"sweep.protocols must be a list of names"):
        config.sweep_scope("m")
    bad.write_text("method: m\nsweep: {epochs: 3}\n")
    with pytest.raises(HarnessError, match=r"sweep: takes only 'protocols' and 'shots'"):
        config.sweep_scope("m")
