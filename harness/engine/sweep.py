"""``python -m harness sweep``: the cartesian product methods × protocols (× datasets × seeds), resumable.

Finished units are skipped (their records exist), so an interrupted sweep continues where it stopped; at
the end the tables in results/ are regenerated from all records.
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path


#: the methods (frozen CLIP, the four, FROSTER, Open-VCLIP) and EZ-CLIP's ablations (methods/configs/ezclip-no-*.yaml), in table order
DEFAULT_METHODS = ("clip", "ezclip", "actionclip", "xclip", "vificlip", "froster", "openvclip", "ezclip-no-prompts",
                   "ezclip-no-motion-loss", "ezclip-no-adapters")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="run methods × protocols (resumable), then regenerate tables",
                                   description="Run the cartesian product of methods and protocols; units whose "
                                               "record exists are skipped; tables are rebuilt at the end.")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help="default: the seven methods and EZ-CLIP's three ablation variants")
    parser.add_argument("--protocols", nargs="+", default=["zero_shot", "base2novel", "few_shot"])
    parser.add_argument("--datasets", nargs="+", default=None, help="default: each protocol's embedded datasets")
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    parser.add_argument("--records", default=None,
                        help="run-record folder (default $HARNESS_RECORDS or work_dirs/records; the committed "
                             "reference is made with --records records --results results)")
    parser.add_argument("--results", default=None, help="results folder (default $HARNESS_RESULTS or work_dirs/results)")
    parser.add_argument("--force", action="store_true", help="rerun units whose record exists")
    parser.add_argument("--workers", type=int, default=1,
                        help="run this many (method, protocol) jobs at once, each in its own process (the embedded "
                             "backbone uses one CPU thread per process, so 2 workers use 2 cores)")
    parser.add_argument("--shots", type=int, nargs="+", default=None, help="few-shot K values (default: the protocol's)")
    parser.add_argument("--executor", choices=["local", "slurm"], default=None,
                        help="one job per protocol unit, under a per-unit lock: local = --workers processes on this "
                             "machine, slurm = one Slurm job per unit through submitit (extra 'cluster'); default: "
                             "(method, protocol) jobs as before")
    parser.add_argument("--gpus-per-unit", type=int, default=1, help="GPUs per unit job (torchrun when > 1)")
    cluster = parser.add_argument_group("slurm (--executor slurm)")
    cluster.add_argument("--partition", default=None)
    cluster.add_argument("--account", default=None)
    cluster.add_argument("--qos", default=None)
    cluster.add_argument("--time-min", type=int, default=240, help="time limit per unit job, minutes")
    cluster.add_argument("--mem-gb", type=float, default=16)
    cluster.add_argument("--cpus-per-gpu", type=int, default=4, help="decoder CPUs per GPU (cpus-per-task = G × this)")
    cluster.add_argument("--array-parallelism", type=int, default=64, help="at most this many unit jobs at once")
    cluster.add_argument("--no-gpus", action="store_true", help="request no GPUs (CPU-only partitions, tests)")
    cluster.add_argument("--no-wait", action="store_true", help="submit and return; `sweep --status` follows them")
    parser.add_argument("--plan", action="store_true",
                        help="print every unit with its estimated GMACs and clip-hours, then stop (nothing runs)")
    parser.add_argument("--throughput", type=float, default=None, metavar="CLIPS_PER_S",
                        help="forward clips per second for --plan's clip-hours (default: measured, `bench`)")
    parser.add_argument("--status", action="store_true",
                        help="list every unit as done / running / failed / pending (with the failure's last line)")
    parser.set_defaults(func=handle)


def _scoped(args) -> bool:
    """Methods' ``sweep:`` scopes (methods/configs/ezclip-no-*.yaml) apply to the default, embedded sweep only;
    naming datasets or a backbone asks for exactly those (and ``--shots`` for exactly those K)."""
    return not (args.datasets or args.backbone)


def _jobs(args) -> list[tuple[str, str]]:
    """(method, protocol) jobs in sweep order, leaving out protocols outside a method's ``sweep.protocols``."""
    from .config import sweep_scope

    scopes = {m: sweep_scope(m) if _scoped(args) else {} for m in args.methods}
    return [(m, p) for p in args.protocols for m in args.methods
            if scopes[m].get("protocols") is None or p in scopes[m]["protocols"]]


def _shots(method: str, protocol: str, args) -> list[int] | None:
    """The few-shot K values of one (method, protocol) job: ``--shots``, else the method's scope, else all."""
    from .config import sweep_scope

    if protocol != "few_shot":
        return None
    if getattr(args, "shots", None):
        return list(args.shots)
    return sweep_scope(method).get("shots") if _scoped(args) else None


def _run_argv(method: str, protocol: str, args, records_root: Path) -> list[str]:
    """The ``run`` command line of one (method, protocol) job of the sweep."""
    argv = ["run", "--method", method, "--protocol", protocol, "--records", str(records_root), "--no-tables"]
    for shots in _shots(method, protocol, args) or []:
        argv += ["--shots", str(shots)]
    for dataset in args.datasets or []:
        argv += ["--dataset", dataset]
    for seed in args.seeds or []:
        argv += ["--seed", str(seed)]
    return argv + shared_run_options(args)


def shared_run_options(args) -> list[str]:
    """The ``run`` options every job of a sweep passes on unchanged (backbone, weights, --force, --cfg-options)."""
    argv = []
    if args.backbone:
        argv += ["--backbone", args.backbone]
    if args.pretrained:
        argv += ["--pretrained", args.pretrained]
    if args.force:
        argv.append("--force")
    if args.cfg_options:
        argv += ["--cfg-options", *args.cfg_options]
    return argv


def _run_parallel(jobs: list[tuple[str, str]], args, records_root: Path) -> tuple[list, list[str]]:
    """Run the jobs in ``args.workers`` processes at a time; each job's output goes to its own log file.

    Jobs never share a unit (each is one method under one protocol), and records are written atomically, so
    the records are those of a sequential sweep. Returns (timings, failures)."""
    import subprocess

    logs = records_root / "sweep-logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending, running, timings, failures = list(jobs), {}, [], []
    while pending or running:
        while pending and len(running) < args.workers:
            method, protocol = pending.pop(0)
            log = logs / f"{method}-{protocol}.log"
            handle = open(log, "w", encoding="utf-8")
            process = subprocess.Popen([sys.executable, "-m", "harness", *_run_argv(method, protocol, args, records_root)],
                                       stdout=handle, stderr=subprocess.STDOUT)
            running[process] = (method, protocol, time.perf_counter(), handle, log)
            print(f"[sweep] {method} {protocol}: started (log {log})", flush=True)
        for process in list(running):
            if process.poll() is None:
                continue
            method, protocol, began, handle, log = running.pop(process)
            handle.close()
            seconds = time.perf_counter() - began
            timings.append((method, protocol, seconds))
            if process.returncode:
                lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
                failures.append(f"{method} {protocol}: {lines[-1] if lines else f'exit {process.returncode}'}")
                print(f"[sweep] {method} {protocol}: FAILED after {seconds:.0f} s — {failures[-1]}", flush=True)
            else:
                print(f"[sweep] {method} {protocol}: done in {seconds:.0f} s", flush=True)
        time.sleep(0.5)
    return timings, failures


def handle(args) -> int:
    from ..errors import HarnessError
    from ..models.methods_registry import method_entry
    from ..paths import records_dir, reference_records_dir, results_dir
    from .protocols import load_protocol
    from .runner import run
    from .summary import print_summary

    for method in args.methods:  # every name is checked before the first unit generates or trains anything
        method_entry(method)
    for protocol in args.protocols:
        load_protocol(protocol)

    records_root = Path(args.records) if args.records else records_dir()
    if args.workers < 1:
        raise HarnessError(f"--workers must be ≥ 1, got {args.workers}")
    if args.gpus_per_unit < 1:
        raise HarnessError(f"--gpus-per-unit must be ≥ 1, got {args.gpus_per_unit}")
    if args.executor == "slurm" and not (args.plan or args.status):
        from .executors import require_slurm

        require_slurm()  # before anything is written
    if args.plan or args.status or args.executor:
        from .sweep_plan import plan_jobs

        pairs = plan_jobs(args, records_root)
        if args.plan:
            return _print_plan(pairs, args)
        if args.status:
            return _print_status(pairs)
    records_root.mkdir(parents=True, exist_ok=True)
    (records_root / "SWEEP_COMMAND").write_text("python -m harness " + shlex.join(sys.argv[1:]) + "\n",
                                                encoding="utf-8")
    started = time.perf_counter()
    timings, failures = [], []
    if args.executor:
        failures = _run_units([job for _, job in pairs], args, records_root)
        if args.no_wait:
            print("submitted; `sweep --status` with the same arguments lists where each unit stands")
            return 0
    elif args.workers > 1:
        # the longest jobs first (few-shot trains most: 40 epochs on toy-temporal; untrained clip only
        # evaluates), so the workers finish together
        jobs = _jobs(args)
        cost_order = {"few_shot": 0, "zero_shot": 1, "base2novel": 2}
        jobs.sort(key=lambda job: (job[0] == "clip", cost_order.get(job[1], 3)))
        timings, failures = _run_parallel(jobs, args, records_root)
    for method, protocol in _jobs(args) if args.workers == 1 and not args.executor else []:
        began = time.perf_counter()
        records = run(method, protocol, datasets=args.datasets, backbone=args.backbone,
                      pretrained=args.pretrained, seeds=args.seeds, cfg_options=args.cfg_options,
                      force=args.force, records_dir=str(records_root), shots=_shots(method, protocol, args))
        is_reference = records_root.resolve() == reference_records_dir().resolve()
        print_summary(records, reference_dir=None if is_reference else reference_records_dir())
        timings.append((method, protocol, time.perf_counter() - began))
    total = time.perf_counter() - started
    for method, protocol, seconds in timings:
        print(f"  {method:<11} {protocol:<11} {seconds:7.1f} s")
    print(f"sweep finished in {total / 60:.1f} min")
    from ..reports.tables import build_tables

    written = build_tables(records_root, Path(args.results) if args.results else results_dir())
    print(f"results regenerated ({len(written)} files)")
    if failures:
        print(f"{len(failures)} job(s) failed (their logs are in {records_root / 'sweep-logs'}):", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _run_units(jobs, args, records_root: Path) -> list[str]:
    """One job per unit through the chosen executor; returns the failures' lines."""
    from .executors import SlurmOptions, run_local, run_slurm

    if args.executor == "local":
        return run_local(jobs, args.workers)
    options = SlurmOptions(partition=args.partition, gpus_per_unit=0 if args.no_gpus else args.gpus_per_unit,
                           cpus_per_task=args.cpus_per_gpu, mem_gb=args.mem_gb, time_min=args.time_min,
                           array_parallelism=args.array_parallelism, account=args.account, qos=args.qos)
    return run_slurm(jobs, options, records_root / "sweep-logs" / "slurm", wait=not args.no_wait)


def _print_plan(pairs, args) -> int:
    """``sweep --plan``: a table of every unit's estimated cost and the totals of those still to run."""
    from tabulate import tabulate

    from .sweep_plan import TRAIN_FACTOR, plan_table

    throughput, measured = args.throughput, ""
    if throughput is None:
        throughput, measured = _measured_throughput(args), " (measured: bench's forward pass on this machine)"
    elif throughput <= 0:
        from ..errors import HarnessError

        raise HarnessError(f"--throughput must be > 0 clips/s, got {throughput}")
    headers, rows, totals = plan_table(pairs, throughput)
    print(tabulate(rows, headers=headers))
    print(f"to run: {totals['units']} of {len(rows)} units, {totals['train_gmacs'] / 1e3:.2f} TMACs training "
          f"({TRAIN_FACTOR}× forward), {totals['eval_gmacs'] / 1e3:.2f} TMACs evaluation, "
          f"{totals['clip_hours']:.3f} clip-hours at {throughput:.2f} clips/s{measured}")
    print(f"all {len(rows)} units: {totals['all_train_gmacs'] / 1e3:.2f} TMACs training, "
          f"{totals['all_eval_gmacs'] / 1e3:.2f} TMACs evaluation, {totals['all_clip_hours']:.3f} clip-hours")
    return 0


def _measured_throughput(args) -> float:
    """Forward clips per second of the first method on this machine (``bench``'s bare model timing)."""
    from .bench import bench_overhead
    from .config import build_config

    method = args.methods[0]
    config = build_config(method, True, list(args.cfg_options or []), args.backbone, args.pretrained)
    figures = bench_overhead(method, config["backbone"]["name"], int(config["model"].get("frames", 8)), clips=4,
                             repeats=2)
    return float(figures["bare_clips_per_s"])


def _print_status(pairs) -> int:
    """``sweep --status``: each unit's state, then the counts."""
    from collections import Counter

    from tabulate import tabulate

    from .sweep_plan import unit_state

    rows, counts = [], Counter()
    for _, job in pairs:
        state, detail = unit_state(job)
        counts[state] += 1
        rows.append([job.method, job.label, state, detail])
    print(tabulate(rows, headers=["method", "unit", "state", "detail"]))
    print(", ".join(f"{counts[s]} {s}" for s in ("done", "running", "failed", "pending")))
    return 0
