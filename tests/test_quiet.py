"""Quiet by default (issue 15): a training prints none of mmengine's deprecation notices on the console and
its train.log holds no per-parameter initialisation dump unless ``runtime.log_init_info`` asks for it."""
from __future__ import annotations

import glob

from harness.runner import run


def _train(tmp_path, *options, force=False):
    return run("ezclip", "few_shot", datasets=["toy-temporal"], shots=[2], records_dir=str(tmp_path / "records"),
               work_dir=str(tmp_path / "work"),
               cfg_options=["train.epochs=1", "eval.limit=10", "runtime.train_eval_videos=0", *options], force=force)


def test_training_is_quiet_and_the_init_dump_is_opt_in(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    quiet = _train(tmp_path)[0]
    out, err = capfd.readouterr()
    assert "FileClient" not in out + err and "HardDiskBackend" not in out + err
    log = open(glob.glob(f"{quiet['work_dir']}/train.log")[0]).read()
    assert "loss" in log and "Initialized by" not in log and "init_weights" not in log
    assert "FileClient" in log  # kept in the full log, only the console is spared

    loud = _train(tmp_path, "runtime.log_init_info=true", force=True)[0]
    assert loud["run_id"] == quiet["run_id"]  # result-neutral: same run id (--force trains it again)
    log = open(glob.glob(f"{loud['work_dir']}/train.log")[0]).read()
    assert log.count("init_weights") > 50
