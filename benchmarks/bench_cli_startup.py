"""How long ``intrace-analytics --help`` takes to start, against what it used to pay.

Run with ``make bench`` or ``.venv/bin/python benchmarks/bench_cli_startup.py``. The
command line used to import pandas, pyarrow and the analysis modules before parsing an
argument, so ``--help`` cost as much as ``import intrace_analytics.analysis._status``; today's
code cannot be timed against yesterday's in one run, so that import is the baseline.
``python -c "import pandas"`` (the floor it paid) is printed beside it for reference.

Each command runs in a fresh process, interleaved, 5 times; medians. Target:
``--help`` under 0.25 x the baseline (the issue: "in under a quarter of the time").
Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET = 0.25

COMMANDS = {
    "--help": [sys.executable, "-m", "intrace_analytics", "--help"],
    "--version": [sys.executable, "-m", "intrace_analytics", "--version"],
    "import intrace_analytics.analysis._status (the old path)": [
        sys.executable,
        "-c",
        "import intrace_analytics.analysis._status",
    ],
    "import pandas": [sys.executable, "-c", "import pandas"],
}
BASELINE = "import intrace_analytics.analysis._status (the old path)"


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (5)")
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file system cache; not timed
        seconds(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            times[name].append(seconds(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:<50} {median * 1000:7.0f} ms (median of {args.repeat})")
    ratio = medians["--help"] / medians[BASELINE]
    floor = medians["--help"] / medians["import pandas"]
    verdict = "PASS" if ratio < TARGET else "FAIL"
    print(f"--help / old path: {ratio:.3f} (target < {TARGET})")
    print(f"--help / import pandas: {floor:.3f}")
    print(verdict)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
