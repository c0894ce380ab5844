"""The command line as the tests run it: ``run_installed``, the installed console script as a real
process; ``InProcess`` (the ``incident`` fixture), the same command in the test's process."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from handlers import cli
from tests.waiting import HANG_SECONDS

CLI = Path(sys.executable).parent / "incident-bot"


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """The root logger's handlers and level, and alembic's level, as they were before: the bot's
    ``logs.configure`` (which ``main()`` calls) replaces them, and a worker left at DEBUG would log
    every database operation of every later test."""
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    handlers, level, alembic_level = list(root.handlers), root.level, alembic.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        alembic.setLevel(alembic_level)


def minimal_env(**settings: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(settings)
    return env


def run_installed(cwd: Path, *args: str, stdout: int | IO[str] = subprocess.PIPE, **settings: str) -> subprocess.CompletedProcess[str]:
    """``incident-bot *args`` as the installed console script, a real process, in ``cwd`` with a
    minimal environment (PATH, HOME and the settings). A run takes a second or two; only a hang
    reaches the timeout."""
    return subprocess.run(
        [str(CLI), *args],
        cwd=cwd,
        env=minimal_env(**settings),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=HANG_SECONDS,
        stdin=subprocess.DEVNULL,
    )


class InProcess:
    """``incident(cwd, *argv, **settings)``: handlers.cli.main as the console script runs it, in this
    process, with the given working directory and a minimal environment (PATH, HOME and the
    settings); exit code, stdout and stderr come back as from subprocess.run. Built by the
    ``incident`` fixture (tests/conftest.py) from pytest's monkeypatch and capsys."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self._monkeypatch, self._capsys = monkeypatch, capsys

    def __call__(self, cwd: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
        with self._monkeypatch.context() as patch:
            for name in list(os.environ):
                patch.delenv(name)
            for name, value in minimal_env(**settings).items():
                patch.setenv(name, value)
            patch.chdir(cwd)
            self._capsys.readouterr()
            # A command that hangs ends this test process with every thread's traceback (the
            # subprocesses' timeout, for a call that has no timeout of its own), instead of
            # holding up the suite for ever.
            faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=sys.__stderr__)
            with logging_kept():  # main() installs its own log handler
                try:
                    code = cli.main(list(args))
                except SystemExit as exit:  # argparse's usage errors
                    code = exit.code if isinstance(exit.code, int) else 1
                finally:
                    faulthandler.cancel_dump_traceback_later()
            out, err = self._capsys.readouterr()
        return subprocess.CompletedProcess(["incident-bot", *args], code, out, err)

    async def in_thread(self, cwd: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
        """The same, from an async test: main() runs its own event loop (asyncio.run), which cannot
        start on the thread whose loop runs the test; that loop waits meanwhile, free to serve
        the fake Slack."""
        return await asyncio.to_thread(self, cwd, *args, **settings)
