"""Unit jobs of ``sweep --executor``: the local executor with 2 workers writes the records of a sequential sweep;
per-unit locks; ``--status`` / ``--plan``; Slurm job parameters; ``--executor slurm`` without Slurm."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from harness.cli import main
from harness.engine import executors
from harness.engine.locks import UnitLock, is_stale
from harness.errors import HarnessError

ARGS = ["--methods", "clip", "--protocols", "few_shot", "--datasets", "toy-temporal", "--seeds", "1",
        "--shots", "2", "4", "--cfg-options", "eval.limit=12"]
#: the only fields that differ between two runs of the same unit: when and how fast it ran, where, the process's
#: torch thread count (earlier tests in this pytest process change it) and the process-local feature cache's
#: hit/miss counts (one process per unit has nothing cached from the unit before)
VOLATILE = {"created_utc", "wall_s", "work_dir", "throughput_clips_per_s", "eval_wall_s", "hits", "misses",
            "torch_threads"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _records(root):
    return {p.relative_to(root).as_posix(): _stable(json.loads(p.read_text())) for p in sorted(root.rglob("*.json"))}


def test_local_executor_with_two_workers_writes_the_records_of_a_sequential_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    seq, par = tmp_path / "seq", tmp_path / "par"
    assert main(["sweep", *ARGS, "--records", str(seq), "--results", str(tmp_path / "r1")]) == 0
    assert main(["sweep", *ARGS, "--executor", "local", "--workers", "2", "--records", str(par),
                 "--results", str(tmp_path / "r2")]) == 0
    out = capsys.readouterr().out
    assert "[sweep] clip-few_shot-toy-temporal-2shot-seed1: done" in out
    sequential, parallel = _records(seq), _records(par)
    assert len(sequential) == 2 and sequential == parallel
    assert not list((par / "sweep-locks").glob("*.lock"))  # every lock released
    # a second sweep resumes: nothing left to run, and --status says so
    assert main(["sweep", *ARGS, "--executor", "local", "--workers", "2", "--records", str(par),
                 "--results", str(tmp_path / "r2")]) == 0
    assert "skipped (record exists)" in capsys.readouterr().out
    assert main(["sweep", *ARGS, "--records", str(par), "--status"]) == 0
    assert "2 done, 0 running, 0 failed, 0 pending" in capsys.readouterr().out


def test_status_lists_running_failed_and_pending_units(tmp_path, capsys):
    records = tmp_path / "rec"
    assert main(["sweep", *ARGS, "--records", str(records), "--status"]) == 0
    assert "0 done, 0 running, 0 failed, 2 pending" in capsys.readouterr().out
    from harness.engine.sweep_plan import plan_jobs
    from harness.engine.sweep import add_parser
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["sweep", *ARGS, "--records", str(records)])
    (first, job_a), (_, job_b) = plan_jobs(args, records)
    executors.failure_path(records, job_a.run_id).parent.mkdir(parents=True)
    executors.failure_path(records, job_a.run_id).write_text(f"{job_a.name}: HarnessError: out of memory\n")
    lock = UnitLock(executors.lock_path(records, job_b.run_id))
    assert lock.acquire()
    try:
        assert main(["sweep", *ARGS, "--records", str(records), "--status"]) == 0
        out = capsys.readouterr().out
    finally:
        lock.release()
    assert "0 done, 1 running, 1 failed, 0 pending" in out and "HarnessError: out of memory" in out
    assert f"pid {os.getpid()}" in out


def test_a_failed_unit_leaves_its_last_error_line_and_the_others_run(tmp_path):
    job = executors.UnitJob(method="clip", protocol="few_shot", label="x", run_id="clip-x-123",
                            record=str(tmp_path / "rec" / "x.json"), records_root=str(tmp_path / "rec"),
                            run_argv=["run", "--method", "no-such-method", "--protocol", "few_shot"])
    failures = executors.run_local([job], workers=2)
    assert len(failures) == 1 and "no-such-method" in failures[0]
    text = executors.failure_path(tmp_path / "rec", job.run_id).read_text()
    assert text.startswith("clip-x: ") and "no-such-method" in text
    assert not executors.lock_path(tmp_path / "rec", job.run_id).exists()


def test_a_live_lock_is_respected_and_a_dead_ones_is_taken_over(tmp_path):
    path = tmp_path / "u.lock"
    first = UnitLock(path)
    assert first.acquire()
    assert not UnitLock(path).acquire()  # a live owner (this process)
    first.release()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path.write_text(json.dumps(dict(host=socket.gethostname(), pid=int(dead.stdout), started_utc="x")))
    assert is_stale(path)
    second = UnitLock(path)
    assert second.acquire() and json.loads(path.read_text())["pid"] == os.getpid()
    second.release()
    # an owner on another host is stale only once its heartbeat is older than the timeout
    path.write_text(json.dumps(dict(host="elsewhere", pid=1, started_utc="x")))
    assert not is_stale(path, timeout_s=60)
    os.utime(path, (time.time() - 120, time.time() - 120))
    assert is_stale(path, timeout_s=60)


def test_a_running_job_skips_a_unit_locked_by_another_sweep(tmp_path):
    root = tmp_path / "rec"
    job = executors.UnitJob(method="clip", protocol="few_shot", label="x", run_id="r1", record=str(root / "x.json"),
                            records_root=str(root), run_argv=["run"])
    with UnitLock(executors.lock_path(root, "r1")):
        assert executors.run_job(job) == "running elsewhere"


def test_slurm_job_parameters():
    options = executors.SlurmOptions(partition="gpu", gpus_per_unit=4, cpus_per_task=6, mem_gb=64, time_min=90,
                                     array_parallelism=8, account="proj", qos="high")
    params = executors.slurm_parameters(options)
    assert params == dict(nodes=1, tasks_per_node=1, cpus_per_task=24, mem_gb=64, timeout_min=90,
                          slurm_array_parallelism=8, name="harness-sweep", gpus_per_node=4, slurm_partition="gpu",
                          slurm_account="proj", slurm_qos="high")
    assert "gpus_per_node" not in executors.slurm_parameters(executors.SlurmOptions(gpus_per_unit=0), has_gpus=False)
    job = executors.UnitJob(method="m", protocol="p", label="l", run_id="r", record="x", records_root="y",
                            run_argv=["run", "--method", "m"], gpus=4)
    assert executors.command(job)[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", "-m"]
    assert executors.command(job)[-2:] == ["--launcher", "pytorch"]
    job.gpus = 1
    assert executors.command(job) == [sys.executable, "-m", "harness", "run", "--method", "m"]


def test_unit_argv_runs_exactly_one_unit(tmp_path):
    import argparse

    from harness.engine.sweep import add_parser
    from harness.engine.sweep_plan import plan_jobs

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["sweep", *ARGS, "--records", str(tmp_path)])
    argvs = sorted(job.run_argv for _, job in plan_jobs(args, tmp_path))
    assert argvs[0][argvs[0].index("--shots") + 1] == "2" and argvs[1][argvs[1].index("--shots") + 1] == "4"
    assert all(a[a.index("--dataset") + 1] == "toy-temporal" and a[a.index("--seed") + 1] == "1" for a in argvs)


def test_executor_slurm_without_slurm_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(executors.shutil, "which", lambda name: None)
    with pytest.raises(HarnessError, match="no Slurm here"):
        executors.require_slurm()
    assert main(["sweep", *ARGS, "--records", str(tmp_path / "r"), "--executor", "slurm"]) == 2
    assert not (tmp_path / "r").exists()


def test_plan_prints_costs_without_running(tmp_path, capsys):
    assert main(["sweep", "--methods", "ezclip", *ARGS[2:], "--records", str(tmp_path / "r"), "--plan",
                 "--throughput", "10"]) == 0
    out = capsys.readouterr().out
    assert not (tmp_path / "r").exists()
    line = next(l for l in out.splitlines() if "2shot" in l).split()
    gmacs, train_videos, epochs, eval_videos, views, train_gmacs, eval_gmacs, hours = map(float, line[3:])
    assert train_gmacs == pytest.approx(3 * gmacs * train_videos * epochs, rel=1e-3, abs=0.1)
    assert eval_videos == 12 and eval_gmacs == pytest.approx(gmacs * eval_videos * views, rel=1e-2, abs=0.1)
    assert hours == pytest.approx((3 * train_videos * epochs + eval_videos * views) / 10 / 3600, abs=1e-4)
    assert "to run: 2 of 2 units" in out and "at 10.00 clips/s" in out
