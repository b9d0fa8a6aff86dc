"""Tables are the same bytes however floats are summed and however many threads BLAS uses (issue 15): every
resampled statistic runs on integer counts of correct videos, so a tie cannot fall either way by rounding.

The float-order case reverses the summation order of every ``numpy.mean`` / ``numpy.sum`` the table code makes
(pairwise summation then adds the same numbers in another order, which changes the last bits of non-integer
sums); the thread case rebuilds in a fresh process with one BLAS / OpenMP thread."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import fake_records as fake
from harness.reports import tables


def _snapshot(results: Path) -> dict:
    return {p.relative_to(results).as_posix(): p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()}


def _reversed(reduce):
    def reduced_backwards(a, axis=None, *args, **kwargs):
        a = np.asarray(a)
        if a.ndim == 0:
            return reduce(a, axis, *args, **kwargs)
        flipped = a.ravel()[::-1] if axis is None else np.flip(a, axis=axis)
        return reduce(flipped, axis, *args, **kwargs)
    return reduced_backwards


def test_tables_do_not_depend_on_summation_order_or_blas_threads(tmp_path, monkeypatch):
    records = tmp_path / "records"
    fake.write_suite(records)
    fake.write_ablation_suite(records)
    tables.build_tables(records, tmp_path / "plain")
    plain = _snapshot(tmp_path / "plain")
    assert len(plain) > 40

    mean, values = np.mean, np.array([0.1, 0.2, 0.3])
    with monkeypatch.context() as patch:
        patch.setattr(np, "mean", _reversed(np.mean))
        patch.setattr(np, "sum", _reversed(np.sum))
        assert np.mean(values) == mean(values[::-1]) != mean(values)  # live, and it does move the last bits
        tables.build_tables(records, tmp_path / "backwards")
    assert _snapshot(tmp_path / "backwards") == plain

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "harness", "tables", "--records", str(records), "--results",
                           str(tmp_path / "one_thread")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _snapshot(tmp_path / "one_thread") == plain
