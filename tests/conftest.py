"""Shared fixtures. mmengine keeps global singletons (loggers, message hubs, visualizers, default scope);
they are reset after every test so tests cannot leak state into each other."""
from __future__ import annotations

import os
import sys
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
