"""Generated events written per second, peak memory, and where the time goes.

Arms: ``python -m ctgans.generate RUN --n-events N --workers W`` run as a
subprocess: the small N (``--small``) for each ``--workers`` value, then the
large N (``--n-events``) for the last of them. The memory of the command and of
its worker processes is sampled every 0.2 s and summed (peak RSS of the process
tree). Events/s = N / wall time of the command (TensorFlow import and model
loading included); the marginal rate between the two N of the last worker count
leaves that start-up out. On a shared machine the wall time says more about the
other processes than about ctgans, so the CPU seconds (user + system) of the
command and its workers are recorded too: events per CPU second does not depend
on the load, and on two idle cores the wall rate lies between 1x and 2x it.

The breakdown profiles ``generate`` in this process (one worker, cProfile,
CPU time per function) on ``--profile-events`` events: the generator network,
the inverse mapping, ctapipe's ``ImageProcessor`` (cleaning and image
parameters), building the ctapipe event containers, ctapipe's ``DataWriter``
(the table writes).

    python bench/generate.py [--run runs/source_frame-001] [--n-events 100000]
                             [--small 10000] [--workers 1 2] [--profile-events 2000]
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

MARK_BEGIN = "<!-- bench/generate.py begin -->"
MARK_END = "<!-- bench/generate.py end -->"
TARGET = 1000.0  # events/s wanted on 2 cores
PROJECT = Path(__file__).resolve().parents[1]

#: Breakdown rows: (label, cProfile function keys whose cumulative time it is).
STAGES = (
    ("ctapipe ImageProcessor (cleaning + parameters)", ("image_processor.py", 123)),
    ("ctapipe DataWriter (table writes)", ("datawriter.py", 297)),
    ("event containers (ctgans writer)", ("writer.py", "_event")),
    ("inverse mapping", ("inverse_mapping.py", "__call__")),
)


def run_arm(run: Path, n: int, workers: int, tmp: Path, seed: int) -> dict:
    """One generate command: wall seconds, peak RSS of its process tree."""
    output = tmp / f"bench_{n}_{workers}.dl1.h5"
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
    ]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL)
    peak_tree = peak_main = 0
    try:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                rss = [p.memory_info().rss for p in tree if p.is_running()]
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
        "seconds": seconds,
        "rate": n / seconds,
        "cpu": cpu,
        "peak_tree": peak_tree,
        "peak_main": peak_main,
        "bytes_per_event": size / n,
    }


def breakdown(run: Path, n: int, tmp: Path) -> tuple[float, float, list]:
    """Wall and CPU seconds of one in-process ``generate`` of ``n`` events, and
    CPU seconds per stage."""
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
    generate(GenerateRequest(run, output, n_events=n), keep_truth=False)
    profile.disable()
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    output.unlink()
    stats = pstats.Stats(profile).stats
    seconds = {}
    for label, (file, key) in STAGES:
        seconds[label] = sum(
            cumulative
            for (path, line, name), (_, _, _, cumulative, _) in stats.items()
            if path.endswith(file) and key in (line, name)
        )
    # The network, timed alone on as many images (cProfile does not attribute
    # the time of a generator function resumed inside another one reliably).
    network = _network_seconds(run, n)
    rows = [("generator network (timed alone, batch 256)", network)]
    rows += list(seconds.items())
    rows.append(
        (
            "rest (set-up, model loading, labels, ...)",
            cpu - sum(s for _, s in rows),
        )
    )
    return total, cpu, rows


def _network_seconds(run: Path, n: int) -> float:
    """CPU seconds of the run's generator on ``n`` images, batches of 256."""
    import numpy as np

    from ctgans.generate.trained_run import load_generator, open_run

    trained = open_run(run)
    generator = load_generator(trained)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, generator.latent_dim)).astype(np.float32)
    labels = np.zeros((n, len(trained.label_columns)), np.float32)
    generator((z[:8], labels[:8]), training=False)  # build and trace
    start = time.process_time()
    for first in range(0, n, 256):
        rows = slice(first, first + 256)
        np.asarray(generator((z[rows], labels[rows]), training=False))
    return time.process_time() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/source_frame-001"))
    parser.add_argument("--n-events", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--profile-events", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--output", default="BENCHMARKS.md")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ctgans_bench_", dir=args.tmp))
    run = args.run.resolve()
    started = time.perf_counter()
    arms = []
    try:
        total, total_cpu, stages = breakdown(run, args.profile_events, tmp)
        plan = [(args.small, w) for w in args.workers]
        plan.append((args.n_events, args.workers[-1]))
        for n, workers in plan:
            arms.append(run_arm(run, n, workers, tmp, args.seed))
            print(arms[-1], flush=True)
    finally:
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()
    load = os.getloadavg()[0]
    rows = [
        _report.machine_line(),
        f"Run `{args.run}`; sampled mono events (default labels), seed {args.seed}; "
        f"one `python -m ctgans.generate` command per row (TensorFlow import and "
        f"model loading included); 1-minute load average at the end {load:.1f}. "
        "Other processes may share the cores: compare rows, not runs.",
        "",
        "| events | workers | seconds | events/s | CPU seconds | events per CPU "
        "second | peak RSS, all processes | peak RSS, main process | "
        "bytes/event on disk |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in arms:
        rows.append(
            f"| {arm['n']:,} | {arm['workers']} | {arm['seconds']:.0f} | "
            f"{arm['rate']:.0f} | {arm['cpu']:.0f} | {arm['n'] / arm['cpu']:.0f} | "
            f"{arm['peak_tree'] / 2**30:.2f} GiB | "
            f"{arm['peak_main'] / 2**30:.2f} GiB | {arm['bytes_per_event']:.0f} |"
        )
    rows.append("")
    small, large = arms[-2], arms[-1]
    marginal = (large["n"] - small["n"]) / (large["seconds"] - small["seconds"])
    marginal_cpu = (large["n"] - small["n"]) / (large["cpu"] - small["cpu"])
    rows += [
        f"- {large['workers']} worker(s): marginal rate {marginal:.0f} events/s "
        f"({marginal_cpu:.0f} events per CPU second) "
        f"between {small['n']:,} and {large['n']:,} events; peak RSS of all "
        f"processes {small['peak_tree'] / 2**30:.2f} GiB at {small['n']:,} events, "
        f"{large['peak_tree'] / 2**30:.2f} GiB at {large['n']:,}.",
        f"- Target >= {TARGET:.0f} events/s on 2 cores: {large['rate']:.0f} at "
        f"{large['n']:,} events ({'met' if large['rate'] >= TARGET else 'not met'}).",
    ]
    rows += [
        "",
        f"Where the time goes: one worker, in-process, cProfile, "
        f"{args.profile_events:,} events in {total:.1f} s, {total_cpu:.1f} CPU s "
        f"({args.profile_events / total:.0f} events/s under the profiler):",
        "",
        "| stage | CPU seconds | CPU ms per event | share |",
        "|---|---:|---:|---:|",
    ]
    for label, seconds in stages:
        rows.append(
            f"| {label} | {seconds:.1f} | {1000 * seconds / args.profile_events:.2f}"
            f" | {100 * seconds / total_cpu:.0f} % |"
        )
    command = (
        f"python bench/generate.py --run {args.run} --n-events {args.n_events} "
        f"--small {args.small} --workers {' '.join(map(str, args.workers))} "
        f"--profile-events {args.profile_events}"
    )
    rows += [
        "",
        f"Run took {time.perf_counter() - started:.0f} s.",
        "",
        f"    {command}",
    ]
    table = "\n".join(rows)
    print(table)
    _report.write_section(
        Path(args.output), MARK_BEGIN, MARK_END, "Generating DL1 files", table
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
