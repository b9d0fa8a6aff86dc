"""The README's plugin recipe runs verbatim: its two files and its command are copied out of README.md."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.S | re.M)


def test_plugin_recipe_runs_verbatim(tmp_path):
    files = {}
    for block in _blocks("python") + _blocks("yaml"):
        first = block.splitlines()[0]
        if first.startswith("# mypackage/"):
            files[first[2:].strip()] = block
    assert set(files) == {"mypackage/frame_weights.py", "mypackage/frame_weights.yaml"}, sorted(files)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (command,) = [line for block in _blocks("bash") for line in block.splitlines() if "--plugin mypackage" in line]
    env = dict(os.environ, HARNESS_RECORDS=str(tmp_path / "records"), HARNESS_RESULTS=str(tmp_path / "results"),
               HARNESS_WORK_DIR=str(tmp_path / "work"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)  # no install in dev
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (record_path,) = (tmp_path / "records").rglob("*.json")
    record = json.loads(record_path.read_text())
    assert record["method"] == "frame-weights" and record["training"]["iterations"] > 0
    assert record["model"]["trainable_params"] == 8  # the eight frame weights, nothing else
    assert "frame-weights" in result.stdout
