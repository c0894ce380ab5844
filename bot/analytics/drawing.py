"""Where charts are drawn: in a process of their own, one for the whole bot process.

matplotlib is Python: while it draws (the digest's picture takes about 110 ms) it holds the GIL
most of the time. Drawn on a thread of the bot's process, a chart slowed every acknowledgement
made meanwhile, the clicks' acks waiting their turn at the GIL after each trip to the database
and the network (benchmarks/acks_while_drawing.py). In a process of its own it takes none of the
event loop's time, and the bot itself never imports matplotlib (most of a second, the first time).

The process (bot/analytics/drawing_process.py) is started by the first chart and draws every
chart after it, one at a time, at a lower priority than the bot. It is a plain
``python -m bot.analytics.drawing_process`` fed through a pipe, not multiprocessing's: a spawned
multiprocessing worker first runs the program that started the bot (``incident-bot``'s script
imports the whole command line, a second and 100 MB). Where no process can be started, or two in
a row stop before any process here drew anything, charts are drawn on a thread of the bot's
process, as before, after one warning. Should the process die while drawing (killed for its
memory, say), the chart is asked of a new process once; a second death is that chart's failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from bot.analytics.drawing_process import read_message, write_message

log = logging.getLogger(__name__)

# How long a drawing process that was asked to stop may take before it is killed.
STOP_BOUND_SECONDS = 5.0


class DrawingProcessDied(RuntimeError):
    """The drawing process ended before it answered (killed, or failed to start its interpreter)."""


class _Process:
    """One running drawing process and the pipe to it, one chart at a time."""

    def __init__(self) -> None:
        # Its imports as the bot's: the bot may run from a checkout that only its own sys.path finds.
        environment = os.environ | {"PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
        self._popen = subprocess.Popen(
            [sys.executable, "-m", "bot.analytics.drawing_process"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment
        )
        self._turn = threading.Lock()
        self.pid = self._popen.pid

    def drawn(self, message: bytes) -> bytes:
        """The chart of ``message`` (a pickled ``(draw, args)``) from the process (blocking: on a
        worker thread); the error ``draw`` raised, raised here."""
        assert self._popen.stdin is not None and self._popen.stdout is not None
        with self._turn:
            try:
                write_message(self._popen.stdin, message)
                body = read_message(self._popen.stdout)
            except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed by close()
                body = None
        if body is None:
            raise DrawingProcessDied(f"the drawing process ended (exit code {self._popen.poll()})")
        ok, answer = pickle.loads(body)
        if not ok:
            raise answer
        return cast(bytes, answer)  # what draw returned: every chart function returns its bytes

    def stop(self) -> None:
        """Its stdin closed (it ends there), waited for, killed if it does not end in time."""
        if self._popen.stdin is not None:
            try:
                self._popen.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._popen.wait(STOP_BOUND_SECONDS)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
        if self._popen.stdout is not None:
            self._popen.stdout.close()


class ChartDrawing:
    """Hands charts to the drawing process. ``submit`` is all the analytics code sees.

    With ``remember``, the last that many charts are kept by their figures: the same figures draw
    the same bytes (bot/analytics/chart.py), so a dashboard page seen again, or App Home's chart of
    an unchanged week, is not drawn again (drawing is most of a page's own time)."""

    def __init__(self, *, remember: int = 0) -> None:
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._in_threads = False  # a process could not be used here: every chart on a thread
        self._has_drawn = False  # a chart came back from a drawing process: processes work here
        self._remember = remember
        self._remembered: OrderedDict[bytes, bytes] = OrderedDict()  # by the figures' digest, oldest first
        # The thread that waits for the process's answers (or draws, without one): its own, so that
        # charts asked for at once queue here, not in the event loop's default executor, whose
        # threads SQLite's reads and writes need meanwhile.
        self._waiting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart-drawing")

    def submit(self, draw: Callable[..., bytes], /, *args: Any) -> asyncio.Future[bytes]:
        """``draw(*args)``, handed over now (not when the caller next waits: the caller goes on
        with its own work while the chart is drawn), as an awaitable. ``draw`` and ``args`` are
        pickled to the drawing process: a module's function and plain figures (one that cannot go
        raises here). Must be called on the running event loop."""
        loop = asyncio.get_running_loop()
        message = pickle.dumps((draw, args), protocol=pickle.HIGHEST_PROTOCOL)
        figures = hashlib.sha256(message).digest()
        with self._lock:
            known = self._remembered.get(figures)
            if known is not None:
                self._remembered.move_to_end(figures)
        if known is not None:
            done = loop.create_future()
            done.set_result(known)
            return done
        return loop.run_in_executor(self._waiting, self._drawn, draw, args, message, figures)

    def close(self) -> None:
        """Stops the drawing process (blocking: call it on a thread from async code). A chart asked
        for afterwards starts a new one."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            process.stop()

    def _drawn(self, draw: Callable[..., bytes], args: tuple[Any, ...], message: bytes, figures: bytes) -> bytes:
        """On the waiting thread: the chart, remembered when asked to be."""
        drawn = self._from_a_process(draw, args, message)
        if self._remember:
            with self._lock:
                self._remembered[figures] = drawn
                while len(self._remembered) > self._remember:
                    self._remembered.popitem(last=False)
        return drawn

    def _from_a_process(self, draw: Callable[..., bytes], args: tuple[Any, ...], message: bytes) -> bytes:
        """The chart from the drawing process, or drawn right here when none can be used."""
        process = self._running()
        if process is None:
            return draw(*args)
        try:
            drawn = process.drawn(message)
        except DrawingProcessDied as died:
            log.warning("the chart-drawing process stopped while drawing (%s): drawing the chart again in a new one", died)
            process = self._replaced(process)
            if process is None:
                return draw(*args)
            try:
                drawn = process.drawn(message)
            except DrawingProcessDied:
                if self._has_drawn:
                    raise
                # Never a chart from any process here: this machine stops them, not this chart.
                self._draw_in_threads("two processes in a row stopped before drawing anything")
                return draw(*args)
        self._has_drawn = True
        return drawn

    def _running(self) -> _Process | None:
        with self._lock:
            if self._in_threads:
                return None
            if self._process is not None:
                return self._process
            try:
                self._process = _Process()
            except OSError as error:  # no interpreter to start, no processes allowed
                failed = error
            else:
                log.info("started the chart-drawing process (pid %s)", self._process.pid)
                return self._process
        self._draw_in_threads(f"a drawing process could not be started ({failed})")
        return None

    def _replaced(self, dead: _Process) -> _Process | None:
        """A new drawing process in place of ``dead`` (unless another chart replaced it already)."""
        with self._lock:
            if self._process is dead:
                self._process = None
        dead.stop()
        return self._running()

    def _draw_in_threads(self, why: str) -> None:
        with self._lock:
            process, self._process, self._in_threads = self._process, None, True
        log.warning("charts are drawn on a thread of the bot's process: %s", why)
        if process is not None:
            process.stop()


# The bot's one drawing process: what the composition root hands to everything that draws.
# The last 80 charts kept (a few MB): the dashboard kept 64 trend charts and 16 distributions
# itself before.
CHART_DRAWING = ChartDrawing(remember=80)
