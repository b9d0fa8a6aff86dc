"""A real Slurm: scripts/slurm-one-node.sh starts slurmctld + slurmd on this machine, and a small sweep through
``--executor slurm`` (two evaluation-only units) writes the records the local executor writes. Skips with one
line when Slurm is not installed here or cannot be started (not root, no slurm-wlm)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.cli import main
from harness.paths import REPO_ROOT
from test_sweep_executors import ARGS, _records

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("slurmctld") is None:
        pytest.skip("slurm-wlm not installed (apt-get install -y slurm-wlm munge; .ci/run does it as root)")
    started = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "slurm-one-node.sh")], capture_output=True,
                             text=True, timeout=120)
    if started.returncode:
        pytest.skip(f"one-node Slurm did not start: {(started.stdout + started.stderr).strip().splitlines()[-1:]}")
    yield
    if "slurm up:" in started.stdout:  # this test started it: stop its daemons again (one that was up stays)
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "slurm-one-node.sh"), "stop"], timeout=60)


def test_slurm_sweep_writes_the_records_of_the_local_executor(slurm, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    assert main(["sweep", *ARGS, "--records", str(local), "--results", str(tmp_path / "r1")]) == 0
    assert main(["sweep", *ARGS, "--executor", "slurm", "--no-gpus", "--cpus-per-gpu", "1", "--mem-gb", "1",
                 "--time-min", "10", "--records", str(cluster), "--results", str(tmp_path / "r2")]) == 0
    out = capsys.readouterr().out
    assert "submitted as Slurm job" in out and "[sweep] clip-few_shot-toy-temporal-4shot-seed1: done" in out
    assert len(_records(local)) == 2 and _records(local) == _records(cluster)
    assert main(["sweep", *ARGS, "--records", str(cluster), "--status"]) == 0
    assert "2 done, 0 running, 0 failed, 0 pending" in capsys.readouterr().out


def test_a_refused_submission_is_one_line(slurm, tmp_path, capsys):
    code = main(["sweep", *ARGS, "--executor", "slurm", "--no-gpus", "--partition", "no-such-partition",
                 "--records", str(tmp_path / "r"), "--results", str(tmp_path / "res")])
    assert code == 2
    assert "Slurm refused the sweep's jobs" in capsys.readouterr().err
