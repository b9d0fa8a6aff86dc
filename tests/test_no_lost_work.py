"""No lost work: work folders per run, inputs checked before any side effect, resumes that cannot mix configs
and report the whole training (issue: a researcher's first week)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli_in_process
from harness.engine import hooks
from harness.errors import HarnessError
from harness.engine.runner import run

FAST = ["train.epochs=3", "train.warmup_epochs=0", "train.batch_size=8", "eval.limit=40"]
UNIT = dict(protocol_name="few_shot", datasets=["toy-temporal"], shots=[2])


def _run(tmp_path, method="ezclip", options=(), **kwargs):
    return run(method, **UNIT, cfg_options=[*FAST, *options], records_dir=str(tmp_path / "records"),
               work_dir=str(tmp_path / "work"), **kwargs)


def _tree(folder: Path) -> dict:
    """Every file under a folder with its size and mtime: what a later command must leave untouched."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(result, *needles):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished ezclip training (its record and work folder)."""
    tmp_path = tmp_path_factory.mktemp("trained")
    record = _run(tmp_path)[0]
    return tmp_path, record


def test_work_folder_is_named_by_run_and_keeps_the_checkpoints(trained):
    tmp_path, record = trained
    folder = tmp_path / "work" / "ezclip" / record["run_id"]
    assert Path(record["work_dir"]) == folder
    assert {"final_state_dict.pth", "epoch_3.pth", "run.json", "train.log"} <= {p.name for p in folder.iterdir()}
    identity = json.loads((folder / "run.json").read_text())
    assert identity["run_id"] == record["run_id"] and identity["method"] == "ezclip"


def test_evaluating_a_checkpoint_keeps_its_training_folder(trained, tmp_path):
    source, record = trained
    folder = source / "work" / "ezclip" / record["run_id"]
    before = _tree(folder)
    evaluated = run("ezclip", **UNIT, cfg_options=FAST, records_dir=str(tmp_path / "records"),
                    work_dir=str(source / "work"), checkpoint=str(folder / "final_state_dict.pth"))[0]
    assert _tree(folder) == before
    assert evaluated["checkpoint"]["sha256"] and evaluated["run_id"] != record["run_id"]
    # the trained weights are what was evaluated: same predictions as the training run's own evaluation
    assert [p["pred"] for p in evaluated["evaluations"][0]["predictions"]] == \
        [p["pred"] for p in record["evaluations"][0]["predictions"]]


def test_a_typo_run_touches_nothing(trained, capfd):
    tmp_path, _ = trained
    before = _tree(tmp_path)
    result = cli_in_process(["run", "--method", "ezclip", "--protocol", "few_shot", "--dataset", "toy-temporal",
                             "--shots", "2", "--backbone", "ViT-B16", "--records", tmp_path / "records",
                             "--work-dir", tmp_path / "work", "--cfg-options", *FAST], capfd)
    _one_line(result, "ViT-B16")
    assert _tree(tmp_path) == before


def test_force_rerun_trains_in_a_new_folder_and_keeps_the_old_record(trained):
    tmp_path, record = trained
    folder = tmp_path / "work" / "ezclip" / record["run_id"]
    before = _tree(folder)
    again = _run(tmp_path, force=True)[0]
    assert again["run_id"] == record["run_id"]
    assert Path(again["work_dir"]).name == f"{record['run_id']}-2"
    assert _tree(folder) == before
    kept = list((tmp_path / "records").rglob(f"{record['run_id']}.replaced-*.json.bak"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["created_utc"] == record["created_utc"]
    # deterministic training: the rerun reproduces the first run exactly
    assert again["evaluations"][0]["predictions"] == record["evaluations"][0]["predictions"]


def test_record_carries_curve_and_train_accuracy(trained):
    _, record = trained
    training = record["training"]
    assert training["iterations"] == 3 * 3  # 20 videos, batch 8 → 3 steps per epoch
    assert [point["iteration"] for point in training["curve"]] == [3, 6, 9]
    assert all(point["loss"] > 0 and point["lr"] > 0 for point in training["curve"])
    assert 0 <= training["train_top1"] <= 1 and training["train_eval"]["n_videos"] == 20
    # measured for a process's first training on CPU; later ones say why not
    assert training["peak_memory_how"]
    assert (training["peak_memory_mb"] is None) == training["peak_memory_how"].startswith("not measured")
    log = (Path(record["work_dir"]) / "train.log").read_text()
    logged = [float(line.split("loss: ")[1].split()[0]) for line in log.splitlines() if "Epoch(train)" in line]
    assert logged == pytest.approx([point["loss"] for point in training["curve"]], abs=1e-4)


def _interrupt_at_epoch(monkeypatch, epoch: int):
    original = hooks.EpochSeedHook.before_train_epoch

    def interrupted(self, runner):
        if runner.epoch == epoch:
            raise KeyboardInterrupt
        original(self, runner)

    monkeypatch.setattr(hooks.EpochSeedHook, "before_train_epoch", interrupted)


def test_resume_reports_the_whole_training(trained, tmp_path, monkeypatch):
    _, straight = trained
    with monkeypatch.context() as patch:
        _interrupt_at_epoch(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path)
    assert not list((tmp_path / "records").rglob("*.json"))
    resumed = _run(tmp_path, resume=True)[0]
    assert resumed["run_id"] == straight["run_id"] and resumed["training"]["resumed"]
    for key in ("iterations", "first_loss", "final_loss"):
        assert resumed["training"][key] == pytest.approx(straight["training"][key]), key
    assert [p["loss"] for p in resumed["training"]["curve"]] == \
        pytest.approx([p["loss"] for p in straight["training"]["curve"]])
    assert resumed["evaluations"][0]["predictions"] == straight["evaluations"][0]["predictions"]


def test_resume_refuses_another_config_before_training(tmp_path, monkeypatch, capfd):
    with monkeypatch.context() as patch:
        _interrupt_at_epoch(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(HarnessError) as error:
        _run(tmp_path, options=["train.optimizer.lr=0.01"], resume=True)
    message = str(error.value)
    assert "--resume refused" in message and "train.optimizer.lr" in message and "\n" not in message
    assert _tree(tmp_path) == before
    result = cli_in_process(["run", "--method", "ezclip", "--protocol", "few_shot", "--dataset", "toy-temporal",
                             "--shots", "2", "--backbone", "ViT-B-32", "--resume", "--records", tmp_path / "records",
                             "--work-dir", tmp_path / "work", "--cfg-options", *FAST], capfd)
    _one_line(result, "--resume refused")
    assert _tree(tmp_path) == before


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path, monkeypatch):
    """A checkpoint copied into this run's folder from another run is refused by its stored identity."""
    with monkeypatch.context() as patch:
        _interrupt_at_epoch(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path)
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path, options=["train.optimizer.lr=0.01"])
    folders = sorted((tmp_path / "work" / "ezclip").iterdir())
    assert len(folders) == 2
    (ours,) = [f for f in folders if json.loads((f / "run.json").read_text())["config"]["train"]["optimizer"]["lr"]
               != 0.01]
    (theirs,) = [f for f in folders if f != ours]
    (ours / "epoch_1.pth").write_bytes((theirs / "epoch_1.pth").read_bytes())
    with pytest.raises(HarnessError, match="--resume refused: .*another config"):
        _run(tmp_path, resume=True)


def test_text_source_without_descriptions_fails_before_training(tmp_path):
    from harness.data.embedded import ensure_embedded

    root = ensure_embedded() / "toy-target-a"
    videos = sorted(root.rglob("*.mp4"))[:4]
    (tmp_path / "classes.txt").write_text("first\nsecond\n")
    (tmp_path / "list.txt").write_text("".join(f"{v.relative_to(root)} {i % 2}\n" for i, v in enumerate(videos)))
    with pytest.raises(HarnessError) as error:
        run("ezclip", "zero_shot", datasets=["custom"], source="toy-source", cfg_options=FAST, records_dir=str(tmp_path / "records"),
            work_dir=str(tmp_path / "work"),
            dataset_kwargs=dict(video_root=str(root), ann_file=str(tmp_path / "list.txt"),
                                classes=str(tmp_path / "classes.txt")))
    assert "model.text.source=names" in str(error.value)
    assert not (tmp_path / "work").exists() and not (tmp_path / "records").exists()


@pytest.mark.parametrize("options, needle", [
    (["train.epochs=0", "train.warmup_epochs=5"], "train.epochs=0 trains nothing"),
    (["train.epochs=2", "train.warmup_epochs=5"], "longer than train.epochs=2"),
    (["train.optimizer.lr=0"], "lr must be a positive number"),
])
def test_schedule_sanity(tmp_path, options, needle):
    with pytest.raises(HarnessError, match=needle):
        run("ezclip", **UNIT, cfg_options=options, records_dir=str(tmp_path / "r"), work_dir=str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path, capfd):
    junk = tmp_path / "notes.pth"
    junk.write_text("not a checkpoint")
    result = cli_in_process(["run", "--method", "ezclip", "--protocol", "few_shot", "--dataset", "toy-temporal",
                             "--shots", "2", "--checkpoint", junk, "--records", tmp_path / "records",
                             "--work-dir", tmp_path / "work"], capfd)
    _one_line(result, "notes.pth", "not a readable PyTorch checkpoint")
    assert not (tmp_path / "work").exists()


def test_a_checkpoint_of_another_method_is_refused_before_evaluating(trained, tmp_path):
    source, record = trained
    final = Path(record["work_dir"]) / "final_state_dict.pth"
    with pytest.raises(HarnessError, match="does not match this method"):
        run("xclip", **UNIT, checkpoint=str(final), records_dir=str(tmp_path / "r"), work_dir=str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_console_names_the_first_skipped_videos_and_counts_the_rest():
    from harness.engine.unit import _skipped_line

    skipped = [dict(video=f"bad{i}.mp4", reason=f"decode error: truncated stream number {i}") for i in range(5)]
    line = _skipped_line(skipped)
    assert line.strip().startswith("skipped 5: bad0.mp4 (decode error: truncated stream number 0)")
    assert "bad2.mp4" in line and "bad3.mp4" not in line and "and 2 more" in line and "\n" not in line
    assert "and" not in _skipped_line(skipped[:1]).split(")")[-1]


def test_allowed_missing_videos_do_not_count_as_unreadable(tmp_path):
    """--allow-missing drops absent files and counts them; data.max_failed_fraction is about files that exist
    and cannot be read, so half a list absent still evaluates the other half."""
    from harness.data.embedded import ensure_embedded

    root = ensure_embedded() / "toy-target-a"
    videos = [v.relative_to(root) for v in sorted(root.rglob("*.mp4"))[:2]]
    (tmp_path / "classes.txt").write_text("first\nsecond\n")
    (tmp_path / "list.txt").write_text(f"{videos[0]} 0\n{videos[1]} 1\nabsent_a.mp4 0\nabsent_b.mp4 1\n")
    (record,) = run("clip", "zero_shot", datasets=["custom"], records_dir=str(tmp_path / "records"),
                    work_dir=str(tmp_path / "work"), allow_missing=True,
                    dataset_kwargs=dict(video_root=str(root), ann_file=str(tmp_path / "list.txt"),
                                        classes=str(tmp_path / "classes.txt")))
    (evaluation,) = record["evaluations"]
    assert evaluation["metrics"]["n_videos"] == 2
    assert sorted(s["video"] for s in evaluation["skipped"]) == ["absent_a.mp4", "absent_b.mp4"]
