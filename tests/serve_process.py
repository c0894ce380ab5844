"""``incident-bot serve`` as a real subprocess in HTTP mode, for the multi-process, crash and load
tests: the settings go in through the environment exactly as in production.

``ServeForks`` makes the same processes for the crash sweep, which needs one per crash point: a
process that has imported the bot once forks each ``serve``, so that each starts in a fraction of
a second instead of paying the imports again (run as ``python -m tests.serve_process``). From
``main(["serve"])`` on, a forked ``serve`` is the command: its own settings from its environment,
its own migration check, event loop, database pool, Slack session and process ID.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.ports import free_port
from tests.slack_requests import SignedSlack
from tests.waiting import HANG_SECONDS

ROOT = Path(__file__).resolve().parent.parent


async def wait_healthy(name: str, url: str, returncode: Callable[[], int | None], *, timeout: float, log: Path | None = None) -> None:
    """Until ``url``/healthz answers 200. Raises if the process exits first, or at the timeout (a
    hang), with the process's log when it writes one."""

    def logged() -> str:
        return f":\n{log.read_text()}" if log is not None else ""

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:  # a probe; a slow one is tried again
        while time.monotonic() < deadline:
            code = returncode()
            if code is not None:
                raise RuntimeError(f"{name} exited with {code}{logged()}")
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError):  # still starting, or a busy machine
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{name} did not become healthy within {timeout:.0f}s (a hang){logged()}")


# The fake Slack enforces no rate limit unless a test asks it to (tests/test_rate_limits.py), so the
# bot paces its calls as if Slack's limits were a thousand times higher: a test that opens more than
# twenty war rooms a minute (Slack's Tier 2) tests what it tests, not a minute's wait. Nor does the
# bot keep its connection warm with auth.test calls while a test idles (tests/test_keep_warm.py
# turns that on): the calls a test counts are then the ones it made happen.
FAKE_SLACK_SETTINGS = {"SLACK_RATE_SPEED": "1000", "SLACK_KEEP_WARM_SECONDS": "0"}


def serve_env(slack_api_url: str, database_url: str, announce_channel: str, *, secrets: tuple[str, str], **more: str) -> dict[str, str]:
    """What a ``serve`` against the fake Slack is given through its environment, with the shipped
    runbooks: ``secrets`` (the bot token, the signing secret); ``more``: settings of its own, by
    their environment names."""
    bot_token, signing_secret = secrets
    return {
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack_api_url,
        "DATABASE_URL": database_url,
        "INCIDENT_ANNOUNCE_CHANNEL": announce_channel,
        "RUNBOOKS_DIR": str(ROOT / "runbooks"),
        **more,
    }


class ServeProcess:
    def __init__(self, env: dict[str, str], workdir: Path, *, response_url_factory=None, name: str = "serve") -> None:
        self.port = free_port()
        self.env = {**os.environ, **FAKE_SLACK_SETTINGS, **env, "PORT": str(self.port), "HOST": "127.0.0.1", "PYTHONPATH": str(ROOT)}
        self.workdir = workdir
        self.name = name
        self.log = workdir / f"{name}-{self.port}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.slack = SignedSlack(
            f"http://127.0.0.1:{self.port}/slack/events", env["SLACK_SIGNING_SECRET"], response_url_factory=response_url_factory
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _launch(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.serve_process",
                "serve",
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def returncode(self) -> int | None:
        assert self.process is not None
        return self.process.returncode

    async def start(self, timeout: float = HANG_SECONDS) -> ServeProcess:
        await self._launch()
        await wait_healthy(self.name, self.url, lambda: self.returncode, timeout=timeout, log=self.log)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no finishing work in flight, as when a host dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), HANG_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()


class ServeForks:
    """One process that imports the bot once and forks a ``serve`` whenever asked (see the module
    docstring). It reaps its children at once and reports how each ended, so a killed one leaves
    no zombie behind (a claim's holder is presumed dead when its process ID is gone)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None
        self._forked: asyncio.Queue[int] = asyncio.Queue()
        self._ended: dict[int, asyncio.Future[int]] = {}
        self._reader: asyncio.Task | None = None

    async def start(self) -> ServeForks:
        with (self.workdir / "serve-forks.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.serve_process",
                cwd=self.workdir,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            kind, pid, *code = line.split()
            if kind == b"forked":
                self._forked.put_nowait(int(pid))
            else:
                self._ended_future(int(pid)).set_result(int(code[0]))

    def _ended_future(self, pid: int) -> asyncio.Future[int]:
        return self._ended.setdefault(pid, asyncio.get_running_loop().create_future())

    async def fork(self, env: dict[str, str], workdir: Path, log: Path) -> int:
        assert self.process is not None and self.process.stdin is not None
        request = {"env": env, "cwd": str(workdir), "log": str(log)}
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()
        return await asyncio.wait_for(self._forked.get(), HANG_SECONDS)

    def ended(self, pid: int) -> asyncio.Future[int]:
        """How the forked ``serve`` ended: its exit code, or minus the signal that killed it."""
        return self._ended_future(pid)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()  # end of requests: it exits once its children have
        await asyncio.wait_for(self.process.wait(), HANG_SECONDS)
        if self._reader is not None:
            await self._reader


class ForkedServe(ServeProcess):
    """A ``serve`` forked by ``ServeForks``: the same settings, requests, kill and stop as ``ServeProcess``."""

    def __init__(self, forks: ServeForks, env: dict[str, str], workdir: Path, **kwargs) -> None:
        super().__init__(env, workdir, **kwargs)
        self.forks = forks
        self.pid: int | None = None

    async def _launch(self) -> None:
        self.pid = await self.forks.fork(self.env, self.workdir, self.log)

    @property
    def returncode(self) -> int | None:
        assert self.pid is not None
        ended = self.forks.ended(self.pid)
        return ended.result() if ended.done() else None

    def kill(self) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.pid is None or self.returncode is not None:
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self.forks.ended(self.pid)), HANG_SECONDS)
        except TimeoutError:
            os.kill(self.pid, signal.SIGKILL)
            await self.forks.ended(self.pid)

    async def wait(self) -> int:
        assert self.pid is not None
        return await self.forks.ended(self.pid)


def _fork_server() -> None:
    """``python -m tests.serve_process``: import the bot, then fork a ``serve`` for each request
    line on stdin ({"env", "cwd", "log"}), answering ``forked PID``, and ``ended PID CODE`` when one
    ends. Single-threaded (a fork from a threaded process is unsafe): one selector waits on the
    requests and on SIGCHLD."""
    import handlers.cli
    import handlers.server  # noqa: F401 - imported by `serve` itself, once here for every fork

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wake-up fd is written to
    signal.set_wakeup_fd(wake_write)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "requests")
    selector.register(wake_read, selectors.EVENT_READ, "children")
    children: set[int] = set()
    pending, requests_open = b"", True
    while requests_open or children:
        for key, _ in selector.select():
            if key.data == "children":
                os.read(wake_read, 4096)
                while children:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        break
                    children.discard(pid)
                    os.write(1, f"ended {pid} {os.waitstatus_to_exitcode(status)}\n".encode())
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                requests_open = False
                selector.unregister(0)
                continue
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _become_serve(request, (wake_read, wake_write))
                children.add(pid)
                os.write(1, f"forked {pid}\n".encode())


def _become_serve(request: dict, inherited: tuple[int, ...]) -> None:
    """In the forked child: drop the fork server's plumbing, then run ``incident-bot serve``."""

    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in inherited:
        os.close(fd)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    code = 1
    try:
        code = _serve()
    except BaseException:  # noqa: BLE001 - shown in the log; the fork must never return into the loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)


def _serve() -> int:
    """``incident-bot serve`` as the suite runs it: a click is answered once its write commits,
    however long a busy machine takes (the in-process bots' bound, tests/conftest.py), instead of
    "not recorded" after Slack's 2.5 s, which a starved test machine can exceed."""
    import handlers.after_ack
    import handlers.cli

    handlers.after_ack.WRITE_ACK_BOUND = HANG_SECONDS
    return handlers.cli.main(["serve"])


async def run_cli(env: dict[str, str], workdir: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handlers.cli",
        *args,
        cwd=workdir,
        env={**os.environ, **FAKE_SLACK_SETTINGS, **env, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        sys.exit(_serve())
    _fork_server()
