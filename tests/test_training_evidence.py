"""Training shows itself: progress lines, the curve hook's window, TensorBoard as one config switch."""
from __future__ import annotations

import io
import sys
from types import SimpleNamespace

import pytest

from harness.errors import HarnessError
from harness.engine.hooks import ProgressHook, TrainingCurveHook
from harness.engine.runner import run


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def _drive(hook: ProgressHook, curve: TrainingCurveHook, steps: int):
    runner = SimpleNamespace(iter=0, epoch=0, max_iters=steps, max_epochs=2)
    hook.before_train(runner)
    for step in range(steps):
        runner.iter, runner.epoch = step, step * 2 // steps
        curve.step_times.append(0.5)
        curve.losses.append(2.0 - step * 0.1)
        hook.after_train_iter(runner, step)
    hook.after_train(runner)


def test_progress_prints_periodic_lines_when_not_a_terminal():
    stream, curve = _Stream(tty=False), TrainingCurveHook()
    hook = ProgressHook("ezclip few_shot-toy-temporal-2shot-seed1", curve, every_s=0.0, stream=stream)
    _drive(hook, curve, 4)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 and "\r" not in stream.getvalue()
    assert lines[-1].strip().startswith("[train] ezclip few_shot-toy-temporal-2shot-seed1")
    assert "epoch 2/2" in lines[-1] and "iter 4/4" in lines[-1] and "loss 1.850" in lines[-1]
    assert "ETA 0:00:02" in lines[0]  # 3 steps left × 0.5 s = 1.5 s, rounded


def test_progress_rewrites_one_line_on_a_terminal():
    stream, curve = _Stream(tty=True), TrainingCurveHook()
    hook = ProgressHook("xclip unit", curve, stream=stream)
    _drive(hook, curve, 3)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and "\r\033[K" in text  # the last step always shows
    assert "iter 3/3" in text


def test_non_terminal_progress_is_throttled():
    stream, curve = _Stream(tty=False), TrainingCurveHook()
    _drive(ProgressHook("unit", curve, every_s=3600, stream=stream), curve, 50)
    assert len(stream.getvalue().splitlines()) == 1  # only the final step within the hour


def test_tensorboard_switch_without_the_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import fails as if not installed
    with pytest.raises(HarnessError, match="pip install"):
        run("ezclip", "few_shot", datasets=["toy-temporal"], shots=[2],
            cfg_options=["runtime.tensorboard=true", "train.epochs=1", "train.warmup_epochs=0"],
            records_dir=str(tmp_path / "r"), work_dir=str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_tensorboard_switch_writes_event_files(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard (optional extra) is not installed")
    record = run("ezclip", "few_shot", datasets=["toy-temporal"], shots=[2],
                 cfg_options=["runtime.tensorboard=true", "train.epochs=1", "train.warmup_epochs=0",
                              "runtime.train_eval_videos=0", "eval.limit=8"],
                 records_dir=str(tmp_path / "r"), work_dir=str(tmp_path / "w"))[0]
    assert list((tmp_path / "w").rglob("events.out.tfevents.*"))
    assert "train_top1" not in record["training"]  # runtime.train_eval_videos=0 turns the measurement off


def test_peak_memory_is_measured_in_a_fresh_process_and_tells_methods_apart(tmp_path):
    """Fully fine-tuned ActionCLIP allocates more than EZ-CLIP's 19k trainable parameters need: each trained
    as the first training of a fresh process, so the resident-set measure is meaningful."""
    import json

    from conftest import run_cli

    peaks = {}
    for method in ("ezclip", "actionclip"):
        result = run_cli("run", "--method", method, "--protocol", "few_shot", "--dataset", "toy-temporal",
                         "--shots", "2", "--records", tmp_path / method, "--work-dir", tmp_path / "work",
                         "--cfg-options", "train.epochs=1", "train.warmup_epochs=0", "runtime.train_eval_videos=0",
                         "eval.limit=8")  # the peak is taken when training ends, before any evaluation
        assert result.returncode == 0, result.stderr[-2000:]
        (path,) = (tmp_path / method).rglob("*.json")
        training = json.loads(path.read_text())["training"]
        assert training["peak_memory_how"].startswith("CPU, first training of its process")
        peaks[method] = training["peak_memory_mb"]
    assert peaks["actionclip"] > peaks["ezclip"] + 20, peaks
