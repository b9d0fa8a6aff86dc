"""Quiet by default (issue 15): a training prints none of mmengine's deprecation notices on the console and
its train.log holds no per-parameter initialisation dump unless ``runtime.log_init_info`` asks for it."""
from __future__ import annotations

import glob

from harness.engine.runner import run


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


def test_untrained_zero_shot_is_filed_under_the_evaluated_dataset(tmp_path):
    """Frozen CLIP on a custom dataset never sees the zero-shot source: its record sits under ``custom``, and the
    summary's source column says it was not trained (not the default source's name)."""
    from harness.data.embedded import ensure_embedded
    from harness.engine.summary import summarize

    root = ensure_embedded() / "toy-target-a"
    videos = sorted(root.rglob("*.mp4"))[:6]
    (tmp_path / "classes.txt").write_text("first\nsecond\n")
    (tmp_path / "list.txt").write_text("".join(f"{v.relative_to(root)} {i % 2}\n" for i, v in enumerate(videos)))
    (record,) = run("clip", "zero_shot", datasets=["custom"], records_dir=str(tmp_path / "records"),
                    work_dir=str(tmp_path / "work"),
                    dataset_kwargs=dict(video_root=str(root), ann_file=str(tmp_path / "list.txt"),
                                        classes=str(tmp_path / "classes.txt")))
    assert record["dataset"] == "custom" and record["training"] is None
    (path,) = (tmp_path / "records").rglob("*.json")
    assert path.relative_to(tmp_path / "records").parts[:3] == ("zero_shot", "clip", "custom")
    ((_, headers, rows),) = summarize([record])
    assert rows[0][headers.index("source")] == "not trained" and rows[0][headers.index("target")] == "custom"
