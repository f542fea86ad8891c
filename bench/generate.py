"""Generated events written per second, peak memory, and where the time goes.

Arms: ``python -m ctgans.generate RUN --n-events N --workers W [--no-parameters]``
run as a subprocess: for each ``--parameters`` setting, the small N (``--small``)
for each ``--workers`` value, then the large N (``--n-events``, 0: none) for the
last of them. The memory of the command and of its worker processes is sampled
every 0.2 s and summed (peak RSS of the process tree). Events/s = N / wall time
of the command (TensorFlow import and model loading included); the marginal rate
between the two N of the last worker count leaves that start-up out. On a shared
machine the wall time says more about the other processes than about ctgans, so
the CPU seconds (user + system) of the command and its workers are recorded too:
CPU ms per event does not depend on the load, and on two idle cores the wall
rate lies between 1x and 2x the events per CPU second.

Where the time goes, twice: cProfile of ``generate`` in this process (one
worker, CPU time per function, ``--profile-events`` events) for each setting,
and each stage timed alone without a profiler (``bench/_generate_stages.py``).

    python bench/generate.py [--run runs/source_frame-001] [--n-events 100000]
                             [--small 10000] [--workers 1 2]
                             [--parameters on off] [--profile-events 2000]
                             [--tmp /tmp] [--output BENCHMARKS.md]

Outputs are written under ``--tmp`` and deleted after each arm.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import _report  # noqa: E402  (bench/ is sys.path[0])
import psutil  # noqa: E402
from _generate_stages import network_seconds, stage_seconds  # noqa: E402

MARK_BEGIN = "<!-- bench/generate.py begin -->"
MARK_END = "<!-- bench/generate.py end -->"
TARGET = 1000.0  # events/s wanted on 2 cores
PROJECT = Path(__file__).resolve().parents[1]

#: Breakdown rows: (label, cProfile function keys whose cumulative time it is).
STAGES = (
    ("ctapipe cleaning + parameters (ImageProcessor)", ("parameters.py", "__call__")),
    ("batched table appends (ctgans tables)", ("tables.py", "append")),
    ("ctapipe DataWriter (first events, set-up, close)", ("datawriter.py", 297)),
    ("inverse mapping", ("inverse_mapping.py", "__call__")),
)


def run_arm(
    run: Path, n: int, workers: int, parameters: bool, tmp: Path, seed: int
) -> dict:
    """One generate command: wall and CPU seconds, peak RSS of its process tree."""
    output = tmp / f"bench_{n}_{workers}_{parameters}.dl1.h5"
    command = [
        sys.executable,
        "-m",
        "ctgans.generate",
        str(run),
        "--output",
        str(output),
        "--n-events",
        str(n),
        "--workers",
        str(workers),
        "--seed",
        str(seed),
        "--no-progress",
        "--parameters" if parameters else "--no-parameters",
    ]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL)
    peak_tree = peak_main = 0
    worker_cpu = {}  # pid -> the last CPU seconds seen of each worker process
    try:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                rss = [p.memory_info().rss for p in tree if p.is_running()]
                for child in tree[1:]:
                    times = child.cpu_times()
                    worker_cpu[child.pid] = times.user + times.system
            except psutil.Error:
                rss = []
            if rss:
                peak_main = max(peak_main, rss[0])
                peak_tree = max(peak_tree, sum(rss))
            time.sleep(0.2)
    finally:
        process.wait()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: exit {process.returncode}")
    size = output.stat().st_size
    output.unlink()
    return {
        "n": n,
        "workers": workers,
        "parameters": parameters,
        "seconds": seconds,
        "rate": n / seconds,
        "cpu": cpu,
        # Sampled every 0.2 s: the workers' last 0.2 s count to the main process.
        "cpu_workers": sum(worker_cpu.values()),
        "peak_tree": peak_tree,
        "peak_main": peak_main,
        "bytes_per_event": size / n,
        "load": os.getloadavg()[0],
    }


def breakdown(run: Path, n: int, parameters: bool, tmp: Path):
    """Wall and CPU seconds of one in-process ``generate`` of ``n`` events under
    cProfile, and CPU seconds per stage."""
    from ctgans.generate import GenerateRequest, generate

    warm = tmp / "bench_warm.dl1.h5"
    generate(GenerateRequest(run, warm, n_events=50, overwrite=True))  # numba, TF
    warm.unlink()
    output = tmp / "bench_profile.dl1.h5"
    # CPU time (all threads: TensorFlow's too) rather than wall: the shares do
    # not depend on what else runs.
    profile = cProfile.Profile(time.process_time)
    start, cpu_start = time.perf_counter(), time.process_time()
    profile.enable()
    request = GenerateRequest(run, output, n_events=n, parameters=parameters)
    generate(request, keep_truth=False)
    profile.disable()
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    output.unlink()
    stats = pstats.Stats(profile).stats
    # The network, timed alone on as many images (cProfile does not attribute
    # the time of a generator function resumed inside another one reliably).
    network = network_seconds(run, n)["traced"]
    rows = [("generator network (timed alone, batch 256)", network)]
    for label, (file, key) in STAGES:
        seconds = sum(
            cumulative
            for (path, line, name), (_, _, _, cumulative, _) in stats.items()
            if path.endswith(file) and key in (line, name)
        )
        rows.append((label, seconds))
    rest = cpu - sum(s for _, s in rows)
    rows.append(("rest (set-up, model loading, labels, ...)", rest))
    return total, cpu, rows


def _setting(parameters: bool) -> str:
    return "on" if parameters else "off"


def _arm_rows(arms: list[dict]) -> list[str]:
    rows = [
        "| events | parameters | workers | seconds | events/s | CPU seconds | "
        "CPU ms per event | of which main process / workers | "
        "peak RSS, all processes | peak RSS, main process | "
        "bytes/event on disk | load at end |",
        "|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in arms:
        main_cpu = arm["cpu"] - arm["cpu_workers"]
        rows.append(
            f"| {arm['n']:,} | {_setting(arm['parameters'])} | {arm['workers']} | "
            f"{arm['seconds']:.0f} | {arm['rate']:.0f} | {arm['cpu']:.0f} | "
            f"{1000 * arm['cpu'] / arm['n']:.2f} | "
            f"{1000 * main_cpu / arm['n']:.2f} / "
            f"{1000 * arm['cpu_workers'] / arm['n']:.2f} | "
            f"{arm['peak_tree'] / 2**30:.2f} GiB | "
            f"{arm['peak_main'] / 2**30:.2f} GiB | {arm['bytes_per_event']:.0f} | "
            f"{arm['load']:.1f} |"
        )
    rows.append("")
    for parameters in sorted({a["parameters"] for a in arms}, reverse=True):
        mine = [a for a in arms if a["parameters"] == parameters]
        if len(mine) < 2:  # no marginal rate from one size
            continue
        small, large = mine[-2], mine[-1]
        if large["n"] == small["n"]:
            continue
        marginal = (large["n"] - small["n"]) / (large["seconds"] - small["seconds"])
        events = large["n"] - small["n"]
        marginal_cpu = 1000 * (large["cpu"] - small["cpu"]) / events
        marginal_workers = 1000 * (large["cpu_workers"] - small["cpu_workers"]) / events
        rows.append(
            f"- Parameters {_setting(parameters)}, {large['workers']} worker(s): "
            f"marginal {marginal:.0f} events/s, {marginal_cpu:.2f} CPU ms per event "
            f"(main process {marginal_cpu - marginal_workers:.2f}, workers "
            f"{marginal_workers:.2f}) "
            f"between {small['n']:,} and {large['n']:,} events; peak RSS of all "
            f"processes {small['peak_tree'] / 2**30:.2f} GiB at {small['n']:,}, "
            f"{large['peak_tree'] / 2**30:.2f} GiB at {large['n']:,}; target >= "
            f"{TARGET:.0f} events/s: {large['rate']:.0f} "
            f"({'met' if large['rate'] >= TARGET else 'not met'})."
        )
    return rows


def _stage_rows(title: str, stages: list, n: int, cpu: float | None) -> list[str]:
    share = " | share" if cpu else ""
    rows = [title, "", f"| stage | CPU seconds | CPU ms per event{share} |"]
    rows.append("|---|---:|---:|" + ("---:|" if cpu else ""))
    for label, seconds in stages:
        part = f" | {100 * seconds / cpu:.0f} %" if cpu else ""
        rows.append(f"| {label} | {seconds:.1f} | {1000 * seconds / n:.2f}{part} |")
    return rows + [""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/source_frame-001"))
    parser.add_argument("--n-events", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--parameters", nargs="+", choices=["on", "off"], default=["on", "off"]
    )
    parser.add_argument("--profile-events", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--output", default="BENCHMARKS.md")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ctgans_bench_", dir=args.tmp))
    run = args.run.resolve()
    settings = [p == "on" for p in args.parameters]
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    arms, profiles = [], {}
    n_profile = args.profile_events
    try:
        stages = stage_seconds(run, n_profile, tmp)
        for parameters in settings:
            profiles[parameters] = breakdown(run, n_profile, parameters, tmp)
        for parameters in settings:
            plan = [(args.small, w) for w in args.workers]
            if args.n_events > 0:
                plan.append((args.n_events, args.workers[-1]))
            for n, workers in plan:
                arms.append(run_arm(run, n, workers, parameters, tmp, args.seed))
                print(arms[-1], flush=True)
    finally:
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()
    rows = [
        _report.machine_line(),
        f"Run `{args.run}`; sampled mono events (default labels), seed {args.seed}; "
        f"one `python -m ctgans.generate` command per row (TensorFlow import and "
        f"model loading included); 1-minute load average {load_start:.1f} at the "
        "start, at the end of each row in the table. Other processes share the "
        "cores: compare CPU ms per event, not wall times across runs.",
        "",
        *_arm_rows(arms),
        "",
    ]
    rows += _stage_rows(
        f"Each stage timed alone, no profiler, {n_profile:,} events (one process):",
        stages,
        n_profile,
        None,
    )
    for parameters, (total, cpu, stage_list) in profiles.items():
        title = (
            f"cProfile, parameters {_setting(parameters)}, one worker, in-process: "
            f"{n_profile:,} events in {total:.1f} s, {cpu:.1f} CPU s (the profiler "
            "slows Python code several times more than TensorFlow's):"
        )
        rows += _stage_rows(title, stage_list, n_profile, cpu)
    command = (
        f"python bench/generate.py --run {args.run} --n-events {args.n_events} "
        f"--small {args.small} --workers {' '.join(map(str, args.workers))} "
        f"--parameters {' '.join(args.parameters)} --profile-events {n_profile}"
    )
    rows += [f"Run took {time.perf_counter() - started:.0f} s.", "", f"    {command}"]
    table = "\n".join(rows)
    print(table)
    _report.write_section(
        Path(args.output), MARK_BEGIN, MARK_END, "Generating DL1 files", table
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
