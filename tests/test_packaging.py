"""A wheel of the checkout holds every module and every data file of harness/, methods/ and protocols/: a
non-editable install must run like the checkout (a hand-kept package list once missed three subpackages and
the toy CLIP's config)."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "methods", "protocols")


def _tree_files() -> set[str]:
    """Every file of the three package trees (sources and data), as paths inside a wheel."""
    out = set()
    for top in PACKAGES:
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                out.add(path.relative_to(REPO).as_posix())
    return out


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    # build from a copy: the build writes build/ and *.egg-info beside pyproject.toml
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for top in PACKAGES:
        shutil.copytree(REPO / top, src / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        return set(archive.namelist())


def test_wheel_holds_every_module(wheel_names):
    modules = {f for f in _tree_files() if f.endswith(".py")}
    assert modules, "no modules found"
    assert sorted(modules - wheel_names) == []


def test_wheel_holds_every_data_file(wheel_names):
    data = {f for f in _tree_files() if not f.endswith(".py")}
    # the files the code reads from its own packages must be among them
    for needed in ("harness/models/model_configs/toy-vit.json", "methods/configs/ezclip.yaml",
                   "protocols/base2novel.yaml", "protocols/datasets/toy-source.yaml"):
        assert needed in data
    assert sorted(data - wheel_names) == []
