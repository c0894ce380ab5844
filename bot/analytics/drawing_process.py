"""The drawing process itself (``python -m bot.analytics.drawing_process``, started by
bot/analytics/drawing.py): reads one chart to draw at a time from stdin, answers with its bytes
on stdout, and ends when stdin does (the bot stopped, or closed it).

Each message, both ways, is a pickle preceded by its length (8 bytes, big-endian): the bot sends
``(draw, args)``, a module's function and its figures, and gets ``(True, the chart's bytes)`` or
``(False, the exception draw raised)``. Only the bot's own process writes to this stdin: it is a
pipe the bot opened, never a socket or a file. Nothing here reads a database or calls Slack.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import IO

_LENGTH = struct.Struct(">Q")
# Drawing is never urgent beside an acknowledgement: on a busy machine the bot's process goes first.
DRAWING_NICENESS = 5


def read_message(stream: IO[bytes]) -> bytes | None:
    """The next message on ``stream``, still pickled; None at its end."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    body = stream.read(length)
    return body if len(body) == length else None


def write_message(stream: IO[bytes], body: bytes) -> None:
    """``body`` (a pickle) as one message on ``stream``."""
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def answer(message: bytes) -> tuple[bool, object]:
    """``(True, draw(*args))`` for a pickled ``(draw, args)``, or ``(False, what it raised)``."""
    try:
        draw, args = pickle.loads(message)
        return True, draw(*args)
    except Exception as error:  # the caller's to handle: it is sent back as raised
        try:
            pickle.dumps(error)
        except Exception:
            error = RuntimeError(f"{type(error).__name__}: {error}")
        return False, error


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the bot's to handle; stdin ends with it
    try:
        os.nice(DRAWING_NICENESS)
    except OSError:  # not allowed here: drawing at the bot's priority is still correct
        pass
    # The answers get a descriptor of their own, and whatever else writes to stdout (a print, a C
    # library's warning) goes to stderr: nothing may slip between two messages.
    requests, answers = sys.stdin.buffer, os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    while (message := read_message(requests)) is not None:
        write_message(answers, pickle.dumps(answer(message), protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
