"""Sweep executors: one job per protocol unit, run on this machine (``local``, N worker processes) or as Slurm
jobs through submitit (``slurm``). Records stay the only shared state: a job takes its unit's lock
(:mod:`harness.engine.locks`), skips a unit whose record exists, runs ``python -m harness run`` for exactly that
unit (``torchrun`` when it has more than one GPU) and leaves a one-line failure file when it fails, so a crashed
or preempted job reruns alone and ``sweep`` again resumes.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import HarnessError


@dataclass
class UnitJob:
    """Everything a job needs to run one unit, JSON/pickle-able (a Slurm job runs it on another node)."""
    method: str
    protocol: str
    label: str
    run_id: str
    record: str
    records_root: str
    run_argv: list = field(default_factory=list)
    gpus: int = 1
    trainable: bool = True

    @property
    def name(self) -> str:
        return f"{self.method}-{self.label}"


def lock_path(records_root: Path | str, run_id: str) -> Path:
    return Path(records_root) / "sweep-locks" / f"{run_id}.lock"


def log_path(records_root: Path | str, job_name: str) -> Path:
    return Path(records_root) / "sweep-logs" / f"{job_name}.log"


def failure_path(records_root: Path | str, run_id: str) -> Path:
    """Holds the last error line of the unit's latest failed attempt; removed when it succeeds."""
    return Path(records_root) / "sweep-logs" / f"{run_id}.failed"


def unit_argv(planned: dict, datasets: list[str] | None, args, records_root: Path) -> list[str]:
    """The ``run`` command line that runs exactly this unit (its dataset, seed and shots)."""
    unit = planned["unit"]
    argv = ["run", "--method", planned["method"], "--protocol", planned["protocol"], "--records", str(records_root),
            "--no-tables", "--seed", str(unit.seed)]
    # a zero-shot unit evaluates all target datasets at once; the others are one dataset each
    for dataset in (datasets or []) if planned["protocol"] == "zero_shot" else [unit.dataset]:
        argv += ["--dataset", dataset]
    if unit.shots is not None and planned["protocol"] == "few_shot":
        argv += ["--shots", str(unit.shots)]
    from .sweep import shared_run_options

    return argv + shared_run_options(args)


def command(job: UnitJob) -> list[str]:
    """The process a job starts: the harness itself, or torchrun over ``gpus`` processes (``--launcher pytorch``)."""
    if job.gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={job.gpus}",
                "-m", "harness", *job.run_argv, "--launcher", "pytorch"]
    return [sys.executable, "-m", "harness", *job.run_argv]


def run_job(job: UnitJob | dict) -> str:
    """Run one unit under its lock; returns 'done', 'skipped (record exists)' or 'running elsewhere'; raises on
    failure (submitit then marks the job failed; the failure file names the error)."""
    from .locks import UnitLock

    job = UnitJob(**job) if isinstance(job, dict) else job
    force = "--force" in job.run_argv
    with UnitLock(lock_path(job.records_root, job.run_id)) as held:
        if not held:
            return "running elsewhere"
        if Path(job.record).exists() and not force:
            return "skipped (record exists)"
        log = log_path(job.records_root, job.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(log, "w", encoding="utf-8") as handle:
            code = subprocess.call(command(job), stdout=handle, stderr=subprocess.STDOUT, env=env)
        failed = failure_path(job.records_root, job.run_id)
        if code:
            lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit {code}"
            from ..paths import atomic_write_text

            atomic_write_text(failed, f"{job.name}: {last}\n")
            raise RuntimeError(f"{job.name}: {last}")
        if failed.exists():
            failed.unlink()
        return "done"


def run_local(jobs: list[UnitJob], workers: int) -> list[str]:
    """Run the jobs in ``workers`` processes at a time on this machine; returns the failures' lines."""
    from concurrent.futures import ThreadPoolExecutor

    failures = []

    def one(job: UnitJob) -> None:
        print(f"[sweep] {job.name}: started (log {log_path(job.records_root, job.name)})", flush=True)
        try:
            outcome = run_job(job)
        except Exception as error:  # a failed unit does not stop the others
            failures.append(str(error))
            print(f"[sweep] {job.name}: FAILED — {error}", flush=True)
        else:
            print(f"[sweep] {job.name}: {outcome}", flush=True)

    with ThreadPoolExecutor(max_workers=workers) as pool:  # threads only wait: each job is its own process
        list(pool.map(one, jobs))
    return failures


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus_per_unit: int = 1
    cpus_per_task: int = 2
    mem_gb: float = 16
    time_min: int = 240
    array_parallelism: int = 64
    account: str | None = None
    qos: str | None = None
    extra: dict = field(default_factory=dict)


def slurm_parameters(options: SlurmOptions, has_gpus: bool = True) -> dict:
    """submitit's ``update_parameters`` arguments for one unit job: one node, one task (torchrun starts the GPU
    processes), G GPUs, CPUs per GPU for the decoders."""
    params = dict(nodes=1, tasks_per_node=1, cpus_per_task=options.cpus_per_task * max(1, options.gpus_per_unit),
                  mem_gb=options.mem_gb, timeout_min=options.time_min, slurm_array_parallelism=options.array_parallelism,
                  name="harness-sweep")
    if has_gpus:
        params["gpus_per_node"] = options.gpus_per_unit
    if options.partition:
        params["slurm_partition"] = options.partition
    if options.account:
        params["slurm_account"] = options.account
    if options.qos:
        params["slurm_qos"] = options.qos
    if options.extra:
        params["slurm_additional_parameters"] = dict(options.extra)
    return params


def require_slurm() -> None:
    """One clear line when this machine cannot submit Slurm jobs."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise HarnessError("--executor slurm needs submitit: pip install 'videoclip-harness[cluster]' "
                           "(or pip install submitit)") from None
    if shutil.which("sbatch") is None:
        raise HarnessError("--executor slurm: no Slurm here (sbatch not on PATH); run on a Slurm login node, or "
                           "use --executor local (scripts/slurm-one-node.sh starts a one-node Slurm for tests)")


def run_slurm(jobs: list[UnitJob], options: SlurmOptions, folder: Path, wait: bool = True) -> list[str]:
    """Submit one Slurm job per unit (a job array) through submitit; with ``wait``, wait and return failures."""
    require_slurm()
    import submitit

    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    executor.update_parameters(**slurm_parameters(options, has_gpus=options.gpus_per_unit > 0))
    try:
        with executor.batch():
            submitted = [executor.submit(run_job, asdict(job)) for job in jobs]
    except Exception as error:  # sbatch refused (unknown partition, limits): its own words, one line
        text = [line for line in str(error).splitlines() if line.strip()]
        raise HarnessError(f"Slurm refused the sweep's jobs: {text[-1] if text else type(error).__name__} "
                           f"(check --partition / --account / --time-min / --mem-gb)") from None
    for job, handle in zip(jobs, submitted):
        print(f"[sweep] {job.name}: submitted as Slurm job {handle.job_id}", flush=True)
    if not wait:
        return []
    failures = []
    for job, handle in zip(jobs, submitted):
        try:
            print(f"[sweep] {job.name}: {handle.result()}", flush=True)
        except Exception as error:
            text = [line for line in str(error).splitlines() if line.strip()]
            failures.append(f"{job.name}: {text[-1] if text else type(error).__name__}")
            print(f"[sweep] {job.name}: FAILED — {failures[-1]}", flush=True)
    return failures


def job_json(job: UnitJob) -> str:
    return json.dumps(asdict(job), indent=1)
