"""Command line: ``python -m harness <command>``. Errors a user can fix print as one line, exit code 2.

Each command lives in its own module with an ``add_parser(subparsers)`` function; a command whose module
fails to import is reported when used and does not break the others.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from .errors import HarnessError

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES = ("harness.commands.run", "harness.commands.listing", "harness.reports.tables",
                   "harness.reports.compare", "harness.models.profile", "harness.data.audit", "harness.data.prepare",
                   "harness.engine.sweep", "harness.engine.bench", "harness.commands.convert",
                   "harness.commands.reproduce", "harness.commands.tune",
                   "harness.commands.analyze")


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the usage block and then its error (three or more lines); the harness promises one
    line naming the problem and where the fix is, like every other bad input. Subcommand parsers inherit it
    (``add_subparsers`` builds them with the parent's class)."""

    def error(self, message: str):
        raise HarnessError(f"{self.prog}: {message}; see `{self.prog} --help`")


def positive_int(text: str) -> int:
    """argparse type for counts (frames, clips, repeats): 0 or a negative number fails deep inside torch."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type for durations (0 allowed: no minimum)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m harness",
        description="Benchmark and evaluation harness for video-CLIP action recognition "
                    "(EZ-CLIP, ActionCLIP, X-CLIP, ViFi-CLIP, frozen CLIP) under zero-shot, base-to-novel "
                    "and few-shot protocols. Every command defaults to the embedded benchmark (offline).")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (it may call harness.register_method to add methods)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    broken = []
    for module_name in COMMAND_MODULES:
        try:
            importlib.import_module(module_name).add_parser(subparsers)
        except (ImportError, AttributeError) as error:
            broken.append((module_name, error))
    parser.broken_commands = broken
    return parser


def _import_plugins(argv: list[str]) -> None:
    """``--plugin`` must be honoured before parsing so a plugin's methods appear in ``list`` and ``run``."""
    for index, arg in enumerate(argv):
        module = argv[index + 1] if arg == "--plugin" and index + 1 < len(argv) else \
            arg.split("=", 1)[1] if arg.startswith("--plugin=") else None
        if module:
            try:
                importlib.import_module(module)
            except Exception as error:
                raise HarnessError(f"plugin module {module!r} could not be imported ({type(error).__name__}: {error}); "
                                   "check that it is on PYTHONPATH") from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.filterwarnings("ignore", message=".*FileClient.*")
    warnings.filterwarnings("ignore", message=".*HardDiskBackend.*")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        _import_plugins(argv)
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            for module_name, error in parser.broken_commands:
                print(f"note: commands of {module_name} are unavailable ({error})", file=sys.stderr)
            return 0 if not argv else 2
        return int(args.func(args) or 0)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; finished records are kept, rerun the same command to resume", file=sys.stderr)
        return 130
