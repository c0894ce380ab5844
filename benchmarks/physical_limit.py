"""Every figure of "at the physical limit" in one run: the war room and the resolution in round trips
(round_trips), durable clicks against a bare ack (clicks), a storm within Slack's rate limits
(storm) and reports over the whole history (report_scale). Each benchmark measures its own
baseline in the same run, configured the same way; this command runs them one after the other
and prints each figure against its target, then how many were met.

    .venv/bin/python -m benchmarks.physical_limit            # the defaults of each benchmark
    .venv/bin/python -m benchmarks.physical_limit --quick    # smaller samples, SQLite only: minutes, not tens

Run it on a quiet machine: the ratios hold up under load better than the absolute times, but a
saturated machine adds round trips and tail latency of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks import clicks, report_scale, round_trips, storm


@dataclass(frozen=True)
class Line:
    text: str
    met: bool | None  # None: shown for context, no target


def _round_trips(quick: bool) -> list[Line]:
    args = argparse.Namespace(latency_ms=100.0, incidents=3 if quick else 5, floor=True)
    return [Line(figure.line(), figure.met) for figure in round_trips.figures(args)]


def _clicks(quick: bool) -> list[Line]:
    args = clicks.parse_args(["-n", "40", "--databases", "sqlite"] if quick else [])
    return [Line(figure.line(), figure.met if figure.target is not None else None) for figure in clicks.figures(args)]


def _storm(quick: bool) -> list[Line]:
    # Two real serve processes, as the storm: two Runtimes sharing the benchmark's event
    # loop and CPU with the fake Slack were up to 0.15x slower against the same minimum.
    args = storm.parse_args(["--speed", "8", "--processes"] if quick else ["--processes"])
    return [
        Line(f"{f.name:<58} {f.measured:>9.2f} {f.limit:>9.2f} {f.ratio:>6.2f}x {f.target:>8}  {'met' if f.met else 'MISSED'}", f.met)
        for f in storm.figures(args)
    ]


def _reports(quick: bool) -> list[Line]:
    argv = ["--dialects", "sqlite", "--repeats", "1"] if quick else []
    return [Line(figure.line(), figure.met) for figure in report_scale.figures(argv)]


SECTIONS: list[tuple[str, Callable[[bool], list[Line]]]] = [
    ("The war room and the resolution, in round trips of 100 ms", _round_trips),
    ("Durable clicks against a bare Bolt app that acks the same way", _clicks),
    ("A storm of alerts within Slack's rate limits", _storm),
    ("Reports over the whole history", _reports),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.physical_limit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples and SQLite only")
    parser.add_argument("--only", choices=[name.split()[1] for name, _ in SECTIONS], nargs="+", help="run only these sections")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    results: list[Line] = []
    for title, run in SECTIONS:
        if args.only and title.split()[1] not in args.only:
            continue
        started = time.monotonic()
        print(f"\n== {title}", flush=True)
        lines = run(args.quick)
        for line in lines:
            print(line.text)
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
        results += lines
    judged = [line for line in results if line.met is not None]
    print(f"\n{sum(1 for line in judged if line.met)} of {len(judged)} targets met; load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
