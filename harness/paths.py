"""Where the harness keeps what it builds: the embedded benchmark, the toy CLIP, run records, results."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Built artefacts (embedded videos, toy CLIP weights). ``HARNESS_CACHE`` overrides the default."""
    path = Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "videoclip-harness"))
    path.mkdir(parents=True, exist_ok=True)
    return path


#: Everything a user's commands make (checkpoints, logs, their records and tables) lives here, ignored by git,
#: so no run can collide with or dirty the committed reference records and results.
WORK_ROOT = REPO_ROOT / "work_dirs"


def work_root() -> Path:
    """Checkpoints and logs, one folder per run: ``<work_root>/<method>/<run_id>/``. ``HARNESS_WORK_DIR``
    overrides ``<repo>/work_dirs``."""
    return Path(os.environ.get("HARNESS_WORK_DIR", WORK_ROOT))


def records_dir() -> Path:
    """The user's run records (JSON, one per protocol unit). ``HARNESS_RECORDS`` overrides
    ``<repo>/work_dirs/records``."""
    return Path(os.environ.get("HARNESS_RECORDS", WORK_ROOT / "records"))


def results_dir() -> Path:
    """Tables generated from the user's records. ``HARNESS_RESULTS`` overrides ``<repo>/work_dirs/results``."""
    return Path(os.environ.get("HARNESS_RESULTS", WORK_ROOT / "results"))


def reference_records_dir() -> Path:
    """The committed reference records (``records/``, made by the sweep in ``records/SWEEP_COMMAND``)."""
    return REPO_ROOT / "records"


def reference_results_dir() -> Path:
    """The committed tables built from the reference records (``results/``)."""
    return REPO_ROOT / "results"


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (tests and checks only), or ``HARNESS_SHARED_DATA``."""
    path = Path(os.environ.get("HARNESS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    return path if path.is_dir() else None


@contextlib.contextmanager
def file_lock(path: Path):
    """Serialise builders of one cached artefact across processes (two test workers or two runs must not
    generate the benchmark or pretrain the toy CLIP twice at once)."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, fsynced and renamed into place,
    so a reader (or a killed process) never sees half a file."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path
