"""The CLI: help on every command, one-line errors with a non-zero exit for bad names and keys."""
import pytest

from conftest import run_cli

COMMANDS = ["run", "list", "tables", "compare", "profile", "audit", "prepare", "sweep", "bench"]


def test_top_level_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def _one_line_error(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_unknown_method_lists_known_methods():
    line = _one_line_error(run_cli("run", "--method", "nosuch", "--protocol", "base2novel"))
    for name in ("clip", "ezclip", "actionclip", "xclip", "vificlip"):
        assert name in line


def test_unknown_protocol():
    line = _one_line_error(run_cli("run", "--method", "clip", "--protocol", "base2nvel"))
    assert "base2novel" in line


def test_unknown_dataset():
    line = _one_line_error(run_cli("run", "--method", "clip", "--protocol", "base2novel", "--dataset", "hmdb-51"))
    assert "hmdb51" in line


def test_misspelled_cfg_option():
    line = _one_line_error(run_cli("run", "--method", "ezclip", "--protocol", "base2novel",
                                   "--cfg-options", "train.lr=0.1"))
    assert "train.lr" in line


def test_unknown_backbone():
    line = _one_line_error(run_cli("run", "--method", "clip", "--protocol", "base2novel", "--backbone", "ViT-B-61"))
    assert "ViT-B-16" in line


def test_missing_data_root(tmp_path):
    line = _one_line_error(run_cli("run", "--method", "clip", "--protocol", "zero_shot", "--dataset", "custom",
                                   "--data-root", tmp_path / "absent", "--ann-file", tmp_path / "list.txt",
                                   "--classes", tmp_path / "classes.txt"))
    assert "absent" in line or "list.txt" in line


def test_list_shows_everything():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    for token in ("ezclip", "base2novel", "zero_shot", "few_shot", "toy-source", "hmdb51", "ViT-B-16"):
        assert token in result.stdout
