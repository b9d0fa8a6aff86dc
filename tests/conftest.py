"""Shared fixtures. mmengine keeps global singletons (loggers, message hubs, visualizers, default scope);
they are reset after every test so tests cannot leak state into each other."""
from __future__ import annotations

import gc
import os
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HARNESS_CACHE", str(REPO / ".cache"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: no busy-waiting threads


def _reset_mmengine_globals() -> None:
    try:
        from mmengine.config.utils import _get_package_and_cfg_path  # noqa: F401
        from mmengine.logging import MessageHub, MMLogger
        from mmengine.registry import DefaultScope
        from mmengine.visualization import Visualizer
    except ImportError:
        return
    for cls in (MMLogger, MessageHub, Visualizer, DefaultScope):
        cls._instance_dict.clear()


@pytest.fixture(autouse=True)
def _isolate_mmengine():
    yield
    _reset_mmengine_globals()


@pytest.fixture(scope="module", autouse=True)
def _freeze_long_lived_objects():
    """Every mmengine dataset runs a full ``gc.collect()`` when it is built (``BaseDataset._serialize_data``),
    and a full collection walks every object of the process: in the test process (torch, mmengine, open_clip,
    pytest, what earlier tests left) ~0.5-1.5 s each on 2 shared cores, and a run builds one dataset per
    training and per evaluation list — most of an in-process run's time. What survives until a test module
    starts is collected once and then frozen (``gc.freeze``, made for long-lived objects): later collections
    walk only what the module itself creates. Objects are still freed by reference counting, and what a module
    creates (its module fixtures included) is never frozen, so the next module's collection reclaims its
    garbage cycles; the freeze changes nothing a test can observe except the time garbage collection takes."""
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture
def shared_data():
    from harness.paths import shared_data_dir

    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not beside the checkout")
    return path


def run_cli(*args, env=None, timeout=600):
    """Run ``python -m harness ARGS`` in a subprocess; returns CompletedProcess (text)."""
    import subprocess

    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def _fresh_interpreter_warning_filters() -> None:
    """CPython's default warning filters (docs: warnings, "Default Warning Filter"), in their order."""
    warnings.resetwarnings()
    for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning, DeprecationWarning):
        warnings.simplefilter("ignore", category)  # each inserts at the front
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


def cli_in_process(argv, capfd):
    """``harness.cli.main(ARGV)`` in this process, stdout and stderr captured at the file-descriptor level (so
    native chatter counts too); returns an object shaped like the CompletedProcess of :func:`run_cli`
    (``returncode``, ``stdout``, ``stderr``). A subprocess costs ~10-15 s of imports on a 2-core machine: use
    this wherever a fresh process is not what the test is about. Python warnings are printed to stderr under a
    fresh interpreter's filters, as ``python -m harness`` would show them (pytest would otherwise collect them
    unseen, and a stray warning line would go unnoticed). ``--help`` exits through argparse's SystemExit, which
    is turned into its exit status as the interpreter would."""
    from types import SimpleNamespace

    from harness.cli import main

    def to_stderr(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    capfd.readouterr()
    with warnings.catch_warnings():
        _fresh_interpreter_warning_filters()
        warnings.showwarning = to_stderr
        try:
            status = main([str(a) for a in argv])
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    out, err = capfd.readouterr()
    return SimpleNamespace(returncode=status, stdout=out, stderr=err)
