"""Charts are drawn in a process of their own (bot/analytics/drawing.py): never on the bot's
event loop's process, the same bytes as drawn anywhere else, drawn again once should the process
die, and on a thread where no process can be started."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import bot.analytics.drawing
from bot.analytics.chart import render_distribution_chart
from bot.analytics.drawing import ChartDrawing, DrawingProcessDied
from tests.waiting import HANG_SECONDS

pytestmark = pytest.mark.slow  # each test starts a process


def dies_the_first_time(marker: str) -> bytes:
    """In the drawing process: the first call (no marker yet) kills the process, the next draws."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died once")
        os._exit(3)
    return b"drawn after a death"


def always_dies() -> bytes:
    os._exit(3)


def dies_unless_in(pid: int) -> bytes:
    if os.getpid() != pid:
        os._exit(3)
    return b"drawn here"


def drawn_where() -> bytes:
    return str(os.getpid()).encode()


def counted(path: str, label: str) -> bytes:
    """A drawing that leaves a line in ``path`` each time it is really drawn."""
    with open(path, "a") as drawn:
        drawn.write(label + "\n")
    return label.encode()


def prints_while_drawing() -> bytes:
    print("a chatty library")  # what a drawing may do: it must not reach the bot as an answer
    os.write(1, b"written to fd 1 by C code\n")
    return b"drawn"


@pytest.fixture
async def drawing() -> AsyncIterator[ChartDrawing]:
    drawing = ChartDrawing()
    try:
        yield drawing
    finally:
        await asyncio.to_thread(drawing.close)


async def test_charts_are_drawn_in_one_process_of_their_own(drawing):
    first = int(await drawing.submit(drawn_where))
    assert first != os.getpid()
    assert int(await drawing.submit(drawn_where)) == first  # the same process serves the next chart


async def test_a_drawing_that_remembers_draws_the_same_figures_once_and_forgets_the_least_used(tmp_path):
    drawing = ChartDrawing(remember=2)
    drawn = tmp_path / "drawn"
    try:
        for label in ("a", "b", "a", "c", "a", "b"):
            assert await drawing.submit(counted, str(drawn), label) == label.encode()
    finally:
        await asyncio.to_thread(drawing.close)
    # a and b drawn; a again from memory; c drawn, b (the least used) forgotten; a from memory; b drawn again
    assert drawn.read_text().split() == ["a", "b", "c", "b"]


async def test_a_chart_drawn_in_the_process_is_the_chart_drawn_here(drawing):
    restores = [61.0, 600.0, 1_234.0, 3_600.0, 7_300.0, 86_000.0]  # figures no other test draws
    assert await drawing.submit(render_distribution_chart, restores, 3) == render_distribution_chart(restores, 3)


async def test_what_a_drawing_prints_never_mixes_with_its_answer(drawing):
    assert await drawing.submit(prints_while_drawing) == b"drawn"
    assert int(await drawing.submit(drawn_where)) != os.getpid()


async def test_a_drawing_that_fails_fails_its_caller_with_its_own_error(drawing):
    with pytest.raises(ValueError, match="finite and non-negative"):
        await drawing.submit(render_distribution_chart, [float("nan")], 1)
    assert int(await drawing.submit(drawn_where)) != os.getpid()  # and the process draws on


async def test_a_chart_whose_process_died_is_drawn_again_in_a_new_one(drawing, tmp_path, caplog):
    before = int(await drawing.submit(drawn_where))
    with caplog.at_level(logging.WARNING, logger="bot.analytics.drawing"):
        assert await drawing.submit(dies_the_first_time, str(tmp_path / "marker")) == b"drawn after a death"
    assert "stopped while drawing" in caplog.text
    after = int(await drawing.submit(drawn_where))
    assert after not in (before, os.getpid())


async def test_a_chart_that_kills_every_process_fails_and_the_next_chart_is_drawn(drawing):
    await drawing.submit(drawn_where)  # processes draw here: the chart is what kills them
    with pytest.raises(DrawingProcessDied):
        await drawing.submit(always_dies)
    assert int(await drawing.submit(drawn_where)) != os.getpid()


async def test_where_processes_stop_before_drawing_anything_charts_are_drawn_on_a_thread(drawing, caplog):
    """As when this machine kills what the bot starts (a sandbox, a process limit): not this
    chart's fault, so it is drawn here."""
    with caplog.at_level(logging.WARNING, logger="bot.analytics.drawing"):
        assert await drawing.submit(dies_unless_in, os.getpid()) == b"drawn here"
        assert int(await drawing.submit(drawn_where)) == os.getpid()
    assert "charts are drawn on a thread of the bot's process: two processes in a row stopped before drawing anything" in caplog.text


async def test_where_no_process_can_be_started_charts_are_drawn_on_a_thread_after_one_warning(drawing, monkeypatch, caplog):
    def no_processes(*_args, **_kwargs):
        raise OSError(11, "Resource temporarily unavailable")  # what fork says at a process limit

    monkeypatch.setattr(bot.analytics.drawing.subprocess, "Popen", no_processes)
    with caplog.at_level(logging.WARNING, logger="bot.analytics.drawing"):
        assert int(await drawing.submit(drawn_where)) == os.getpid()
        assert int(await drawing.submit(drawn_where)) == os.getpid()
    assert [r.getMessage() for r in caplog.records].count(
        "charts are drawn on a thread of the bot's process: a drawing process could not be started ([Errno 11] Resource temporarily unavailable)"
    ) == 1


def waits_for(marker: str) -> bytes:
    """In the drawing process: a chart that takes until ``marker`` exists."""
    path = Path(marker)
    while not path.exists():
        time.sleep(0.01)
    return b"drawn once allowed"


async def test_charts_waiting_for_the_process_leave_the_event_loops_threads_to_the_database(drawing, tmp_path):
    """However many charts are asked for at once, they wait on the drawing's own thread: the
    loop's default executor (SQLite's reads and writes, asyncio.to_thread) stays free."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    marker = tmp_path / "go"
    slow = [drawing.submit(waits_for, str(marker)) for _ in range(3)]
    try:
        # Served while every chart still waits (bounded: were the charts in its one thread, it never would be).
        assert await asyncio.wait_for(asyncio.to_thread(lambda: 42), HANG_SECONDS) == 42
        assert not any(chart.done() for chart in slow)
    finally:
        marker.write_text("go")  # even when the check failed: nothing left waiting
    assert await asyncio.gather(*slow) == [b"drawn once allowed"] * 3
