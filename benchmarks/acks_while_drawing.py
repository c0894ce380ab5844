"""Acknowledgements while charts are drawn: on a thread of the bot's process (how every chart was
drawn until 2026-12-06) against the drawing process (bot/analytics/drawing.py), with nothing drawn
as the baseline, measured in the same run.

matplotlib holds the GIL most of the time it draws, and a click's ack takes the GIL back after
each of its trips to the database and the network. The digest goes out on Monday mornings, App
Home's chart is drawn again every hour and the dashboard's when its figures change: while people
are at work and clicking. Each mode runs ``benchmarks.clicks`` on SQLite (the real bot and the bare
Bolt app, the same signed requests, one at a time and eight at a time) in this process:

- nothing drawn;
- on a thread: the digest's picture drawn again and again on a thread of this process, as
  ``asyncio.to_thread`` drew every chart before;
- in the drawing process: the same picture asked of a drawing process again and again from the
  bot's own event loop, as ``serve`` asks for it now (a ``ChartDrawing`` that remembers no chart:
  ``serve``'s would answer the same figures from memory).

The modes take turns (``--rounds`` rounds, the order reversed every other round); printed: the
bot's ack p50 and p99 per kind in each mode (the median of the rounds), each against nothing
drawn, and how many pictures were drawn meanwhile. The picture is the digest's over a seeded
history of ``--incidents`` incidents (its size does not change the drawing's cost much).

    .venv/bin/python -m benchmarks.acks_while_drawing [-n 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import clicks
from benchmarks.open_latency import ms
from benchmarks.report_scale import NoPicture
from bot.analytics.chart import DigestChart, draw_digest_chart
from bot.analytics.drawing import ChartDrawing

NOTHING, THREAD, PROCESS = "nothing drawn", "on a thread", "in the drawing process"
MODES = (NOTHING, THREAD, PROCESS)
# The drawing process of the third mode: one that remembers no chart, as the same picture is asked for each time.
DRAWING = ChartDrawing()
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, as in benchmarks/report_scale.py
TEAM_CONFIG = Path(__file__).resolve().parent.parent / "runbooks" / "config.yml"


class _Kept(NoPicture):
    """Keeps the figures the digest hands over, and draws nothing."""

    chart: DigestChart | None = None

    def submit(self, draw: Callable[..., bytes], /, *args: Any) -> asyncio.Future[bytes]:
        self.chart = args[0]
        return super().submit(draw, *args)


async def digest_chart(incidents: int) -> DigestChart:
    """The figures of the last complete week's digest over a seeded history."""
    from benchmarks.history import insert_history
    from bot.analytics.digest_publisher import DigestPublisher
    from bot.analytics.digest_schedule import DigestChannel
    from bot.analytics.reports import Reports
    from bot.team_config import load_team_config
    from storage.db import Database

    with tempfile.TemporaryDirectory(prefix="incident-bot-drawing-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'history.db'}")
        try:
            await insert_history(db, incidents, seed=7, now=NOW, days=120)
            team = load_team_config(TEAM_CONFIG, required=True)
            reports = Reports(db, lambda: NOW, tiers=team.tiers, settings=team.reports)
            kept = _Kept()
            await DigestPublisher(db, lambda: NOW, reports, slack=None, drawing=kept).compose(DigestChannel(channel="C0BENCH01"))  # type: ignore[arg-type]
        finally:
            await db.dispose()
    assert kept.chart is not None
    return kept.chart


def measured(mode: str, chart: DigestChart, args: argparse.Namespace) -> tuple[list[clicks.Figure], int]:
    """``benchmarks.clicks`` on SQLite while ``mode`` draws; the figures and the pictures drawn."""
    drawn = 0
    stop = threading.Event()

    def on_a_thread() -> None:
        nonlocal drawn
        while not stop.is_set():
            draw_digest_chart(chart)
            drawn += 1

    async def in_the_process(stopped: asyncio.Event) -> None:
        nonlocal drawn
        while not stopped.is_set():
            await DRAWING.submit(draw_digest_chart, chart)
            drawn += 1

    async def run() -> list[clicks.Figure]:
        stopped = asyncio.Event()
        drawing = asyncio.create_task(in_the_process(stopped)) if mode == PROCESS else None
        try:
            return await clicks.collect(clicks.parse_args(["--databases", "sqlite", "-n", str(args.requests)]))
        finally:
            stopped.set()
            if drawing is not None:
                await drawing

    thread = threading.Thread(target=on_a_thread, daemon=True) if mode == THREAD else None
    if thread is not None:
        thread.start()
    try:
        return asyncio.run(run()), drawn
    finally:
        stop.set()
        if thread is not None:
            thread.join()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=60, help="requests of each kind per run (default 60)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three modes (default 2)")
    parser.add_argument("--incidents", type=int, default=5_000, help="incidents in the history the picture is drawn from")
    args = parser.parse_args(argv)

    chart = asyncio.run(digest_chart(args.incidents))
    asyncio.run(_warm_up_the_drawing_process(chart))
    values: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    pictures: dict[str, list[int]] = {mode: [] for mode in MODES}
    for round_number in range(args.rounds):
        for mode in MODES if round_number % 2 == 0 else MODES[::-1]:
            figures, drawn = measured(mode, chart, args)
            pictures[mode].append(drawn)
            for figure in figures:
                if " ack p" in figure.name:
                    values[mode].setdefault(figure.name, []).append(figure.value)
    DRAWING.close()

    print(f"\nthe bot's ack, SQLite, median of {args.rounds} rounds of -n {args.requests}; ratio to nothing drawn")
    print(f"{'figure':44} " + " ".join(f"{mode:>22}" for mode in MODES))
    for name in values[NOTHING]:
        base = statistics.median(values[NOTHING][name])
        cells = []
        for mode in MODES:
            value = statistics.median(values[mode][name])
            cells.append(f"{ms(value):>10} ({value / base:4.1f}x)".rjust(22))
        print(f"{name:44} " + " ".join(cells))
    print("pictures drawn meanwhile per run: " + "; ".join(f"{mode} {pictures[mode]}" for mode in MODES))
    return 0


async def _warm_up_the_drawing_process(chart: DigestChart) -> None:
    """The process's start and matplotlib's import are the first picture's alone: not measured."""
    await DRAWING.submit(draw_digest_chart, chart)


if __name__ == "__main__":
    sys.exit(main())
