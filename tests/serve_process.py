"""``incident-bot serve`` as a real subprocess in HTTP mode, for the multi-process, crash and load
tests: the settings go in through the environment exactly as in production."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp

from tests.slack_requests import SignedSlack
from tests.waiting import HANG_SECONDS

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    def __init__(self, env: dict[str, str], workdir: Path, *, response_url_factory=None, name: str = "serve") -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1", "PYTHONPATH": str(ROOT)}
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

    async def start(self, timeout: float = HANG_SECONDS) -> ServeProcess:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "handlers.cli", "serve", cwd=self.workdir, env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:  # a probe; a slow one is tried again
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return self
                except (TimeoutError, aiohttp.ClientError):  # still starting, or a busy machine
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become healthy within {timeout:.0f}s (a hang):\n{self.log.read_text()}")

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


async def run_cli(env: dict[str, str], workdir: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handlers.cli",
        *args,
        cwd=workdir,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()
