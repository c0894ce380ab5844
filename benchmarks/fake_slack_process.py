"""The fake Slack of the benchmarks in a process of its own, as Slack is to the bot.

In one process, the fake's reading, checking and answering of each call runs on the bot's event
loop, and a war room's step record on a worker thread holds the GIL while the fake reads the call
that record follows: both count as the bot's time in a benchmark that shares the loop. Here the
fake has its own interpreter; the bot's process holds only the bot and the signed-request client.
Arrivals are stamped with ``time.monotonic()``, one clock for every process of the machine, so
``RecordedCall.at`` compares with the benchmark's own readings as before.

``RemoteFakeSlack`` is what the benchmark holds: ``latency``, ``calls``, ``uploads``,
``violations``, ``base_url`` and ``response_url`` as on ``FakeSlack``, read and set through a
pipe between the benchmark's turns (``refresh`` brings ``calls`` and ``uploads`` up to date).

    python -m benchmarks.fake_slack_process      # the child: one JSON request per line on stdin
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

from tests.fake_slack import RecordedCall

# response_url is called synchronously by the signed-request client: the child issues this many
# at its start, and the parent hands them out.
RESPONSE_URLS = 2000


def _call(data: dict[str, Any]) -> RecordedCall:
    return RecordedCall(
        data["method"], data["args"], data["at"], data["ok"], data["error"], seq=data["seq"], after=frozenset(data["after"])
    )


def _data(call: RecordedCall) -> dict[str, Any]:
    return {**asdict(call), "after": sorted(call.after)}


class RemoteFakeSlack:
    """The parent's side of the fake Slack in a child process."""

    def __init__(self, process: asyncio.subprocess.Process, started: dict[str, Any]) -> None:
        self._process = process
        self.base_url: str = started["base_url"]
        self.announce: str = started["announce"]
        self._response_urls: list[str] = started["response_urls"]
        self._latency = 0.0
        self.calls: list[RecordedCall] = []
        self.uploads: list[RecordedCall] = []
        self.violations: list[str] = []
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls) -> RemoteFakeSlack:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.fake_slack_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=256 * 1024 * 1024,
        )
        assert process.stdout is not None
        return cls(process, json.loads(await process.stdout.readline()))

    async def _ask(self, request: dict[str, Any]) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        async with self._lock:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            await self._process.stdin.drain()
            return json.loads(await self._process.stdout.readline())

    @property
    def latency(self) -> float:
        return self._latency

    async def set_latency(self, latency: float) -> None:
        await self._ask({"latency": latency})
        self._latency = latency

    async def refresh(self) -> None:
        """``calls``, ``uploads`` and ``violations`` as the child has them now."""
        answer = await self._ask({"since": [len(self.calls), len(self.uploads)]})
        self.calls += [_call(c) for c in answer["calls"]]
        self.uploads += [_call(c) for c in answer["uploads"]]
        self.violations = answer["violations"]

    def response_url(self) -> str:
        return self._response_urls.pop()

    async def stop(self) -> None:
        await self._ask({"stop": True})
        await self._process.wait()


async def _serve() -> None:
    # Imported here: the parent imports this module only for RemoteFakeSlack.
    from benchmarks.open_latency import start_fake_slack
    from tests.conftest import seed_catalog_people

    fake, announce = await start_fake_slack()
    seed_catalog_people(fake)
    loop = asyncio.get_running_loop()
    urls = [fake.response_url() for _ in range(RESPONSE_URLS)]
    print(json.dumps({"base_url": fake.base_url, "announce": announce, "response_urls": urls}), flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        request = json.loads(line)
        answer: dict[str, Any] = {}
        if "latency" in request:
            fake.latency = float(request["latency"])
        if "since" in request:
            calls, uploads = request["since"]
            answer = {
                "calls": [_data(c) for c in fake.calls[calls:]],
                "uploads": [_data(c) for c in fake.uploads[uploads:]],
                "violations": fake.violations,
            }
        print(json.dumps(answer), flush=True)
        if request.get("stop"):
            break
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(_serve())
