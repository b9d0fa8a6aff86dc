"""The CLI: help on every command, one-line errors with a non-zero exit for bad names and keys.

One test runs ``python -m harness`` in a fresh process (the entry point, its exit status and a stderr free of
import-time chatter); the others call ``harness.cli.main`` in-process with file-descriptor capture (a
subprocess costs ~10 s of imports on the project's 2-core machine)."""
import pytest

from conftest import cli_in_process, run_cli

COMMANDS = ["run", "list", "tables", "compare", "profile", "audit", "prepare", "sweep", "bench"]


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """In-process commands read these at call time: nothing may land in the checkout's records/ or work_dirs/."""
    monkeypatch.setenv("HARNESS_RECORDS", str(tmp_path / "records"))
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work_dirs"))


def test_top_level_help_lists_every_command(capfd):
    result = cli_in_process(["--help"], capfd)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capfd):
    result = cli_in_process([command, "--help"], capfd)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def _one_line_error(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_unknown_method_lists_known_methods():
    """In a fresh process: `python -m harness` exits non-zero with the one line, nothing else on stderr."""
    result = run_cli("run", "--method", "nosuch", "--protocol", "base2novel")
    assert result.returncode == 2
    line = _one_line_error(result)
    for name in ("clip", "ezclip", "actionclip", "xclip", "vificlip"):
        assert name in line


def test_unknown_protocol(capfd):
    line = _one_line_error(cli_in_process(["run", "--method", "clip", "--protocol", "base2nvel"], capfd))
    assert "base2novel" in line


def test_unknown_dataset(capfd):
    line = _one_line_error(cli_in_process(["run", "--method", "clip", "--protocol", "base2novel", "--dataset",
                                           "hmdb-51"], capfd))
    assert "hmdb51" in line


def test_misspelled_cfg_option(capfd):
    line = _one_line_error(cli_in_process(["run", "--method", "ezclip", "--protocol", "base2novel",
                                           "--cfg-options", "train.lr=0.1"], capfd))
    assert "train.lr" in line


def test_unknown_backbone(capfd):
    line = _one_line_error(cli_in_process(["run", "--method", "clip", "--protocol", "base2novel", "--backbone",
                                           "ViT-B-61"], capfd))
    assert "ViT-B-16" in line


def test_missing_data_root(tmp_path, capfd):
    line = _one_line_error(cli_in_process(["run", "--method", "clip", "--protocol", "zero_shot", "--dataset",
                                           "custom", "--data-root", tmp_path / "absent", "--ann-file",
                                           tmp_path / "list.txt", "--classes", tmp_path / "classes.txt"], capfd))
    assert "absent" in line or "list.txt" in line


def test_list_shows_everything(capfd):
    result = cli_in_process(["list"], capfd)
    assert result.returncode == 0, result.stderr
    for token in ("ezclip", "base2novel", "zero_shot", "few_shot", "toy-source", "hmdb51", "ViT-B-16"):
        assert token in result.stdout


# ------------------------------------------------------------------ flags named in the documentation exist

import re  # noqa: E402
from pathlib import Path  # noqa: E402

DOCS = [Path(__file__).resolve().parent.parent / "README.md",
        *sorted((Path(__file__).resolve().parent.parent / "docs").glob("*.md"))]
_COMMAND = re.compile(r"-m harness((?:\s+--plugin[ =]\S+)*)\s+([a-z][a-z_-]*)")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _code_segments(text: str):
    """Lines of fenced code blocks (backslash continuations joined) and inline code spans."""
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
        yield from block.replace("\\\n", " ").splitlines()
    yield from re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))


def doc_flags(text: str):
    """(command, flag) for every --flag in the code of a document: the command is the `python -m harness CMD`
    the flag follows on its line ('' for top-level flags before the command, None when no command is named)."""
    for segment in _code_segments(text):
        commands = list(_COMMAND.finditer(segment))
        if not commands:
            yield from ((None, flag) for flag in _FLAG.findall(segment))
            continue
        for index, match in enumerate(commands):
            end = commands[index + 1].start() if index + 1 < len(commands) else len(segment)
            yield from (("", flag) for flag in _FLAG.findall(match.group(1)))
            yield from ((match.group(2), flag) for flag in _FLAG.findall(segment[match.end():end]))


def _parser_flags():
    from harness.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    def options(p) -> set:
        """A command's flags, and those of its own subcommands (``analyze temporal --records``)."""
        nested = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        return {o for a in p._actions for o in a.option_strings}.union(
            *(options(q) for a in nested for q in a.choices.values()))

    commands = {name: options(p) for name, p in sub.choices.items()}
    return {o for a in parser._actions for o in a.option_strings}, commands


def _unknown_flags(text: str, top: set, commands: dict) -> list[str]:
    everywhere = top.union(*commands.values())
    bad = []
    for command, flag in doc_flags(text):
        if command is None:
            ok = flag in everywhere
        elif command == "":
            ok = flag in top
        else:
            ok = command in commands and (flag in commands[command] or flag in top)
        if not ok:
            bad.append(f"{command or '(no command)'} {flag}")
    return bad


def test_doc_flag_checker_catches_a_wrong_flag():
    top, commands = _parser_flags()
    text = ("```bash\npython -m harness run --method ezclip --protocol base2novel \\\n    --video-root /data\n```\n"
            "and `python -m harness prepare --dataset D --data-root X` and `--no-such-flag`")
    assert _unknown_flags(text, top, commands) == ["run --video-root", "prepare --data-root", "(no command) --no-such-flag"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_in_the_docs_exists(doc):
    """README.md and docs/*.md name only flags the parsers have, for the command they are written with."""
    text = doc.read_text(encoding="utf-8")
    assert list(doc_flags(text)), f"no flag found in {doc.name}: the extractor no longer reads its code"
    top, commands = _parser_flags()
    assert _unknown_flags(text, top, commands) == []
