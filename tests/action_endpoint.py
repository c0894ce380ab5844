"""A local HTTP endpoint on loopback that stands for whatever a runbook action calls (a CI pipeline's
rollback job, a feature-flag service): it records every request it receives (method, path, headers,
body) and answers 200, or the statuses a test scripts, or holds requests until the test lets them
go; and a runbook folder whose payments-api runbook declares actions pointing at it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.conftest import ROOT

# The secret a test's actions send; scanned for everywhere it must not be.
TOKEN_VARIABLE = "RUNBOOK_ACTION_TEST_TOKEN"
TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0ZQXSECRET"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ActionEndpoint:
    received: list[Received] = field(default_factory=list)
    scripted: deque[int] = field(default_factory=deque)  # statuses for the next requests, then 200s
    # While set and not released, requests to the paths in ``held_paths`` wait on it.
    held: asyncio.Event | None = None
    held_paths: set[str] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def script(self, *statuses: int) -> None:
        self.scripted.extend(statuses)

    def hold(self, *paths: str) -> None:
        self.held = asyncio.Event()
        self.held_paths = set(paths)

    def release(self) -> None:
        if self.held is not None:
            self.held.set()

    async def _answer(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.method, request.path, dict(request.headers), await request.read()))
        self.arrived.set()
        if self.held is not None and request.path in self.held_paths:
            await self.held.wait()
        status = self.scripted.popleft() if self.scripted else 200
        return web.json_response({"ok": 200 <= status < 300, "echo": dict(request.headers)}, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # the port the OS gave

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def actions_yaml(endpoint: ActionEndpoint, *, refused_port: int, label: str = "Roll back payments-api") -> str:
    """The actions a test runbook declares: a mitigation anyone in the war room may run, one only
    the commander may run, one that times out, one whose target refuses connections, and one
    whose variable is never set."""
    return f"""actions:
  - id: rollback
    label: {json.dumps(label)}
    confirm: Redeploy the last good payments-api release?
    permission: war_room
    mitigation: true
    request:
      url: {endpoint.url("/rollback")}
      method: POST
      headers:
        Authorization: {{env: {TOKEN_VARIABLE}, prefix: "Bearer "}}
        X-Team: payments
      body:
        ref: main
        variables: {{SERVICE: "{{service}}", SEVERITY: "{{severity}}", INCIDENT: "{{number}}", NOTE: "INC-{{number}} rollback"}}
  - id: flag
    label: Disable feature flag new-checkout
    confirm: Turn new-checkout off for everyone?
    permission: commander
    request:
      url: {endpoint.url("/flag")}
      method: PUT
      headers:
        X-Api-Token: {{env: {TOKEN_VARIABLE}}}
      body: {{flag: new-checkout, enabled: false, incident: "{{number}}"}}
  - id: slow
    label: Scale up checkout-web
    confirm: Add ten checkout-web replicas?
    permission: war_room
    request:
      url: {endpoint.url("/slow")}
      headers:
        Authorization: {{env: {TOKEN_VARIABLE}, prefix: "Bearer "}}
      timeout_seconds: 1
  - id: refused
    label: Purge the CDN cache
    confirm: Purge every cached page?
    permission: war_room
    request:
      url: http://127.0.0.1:{refused_port}/purge
      headers:
        Authorization: {{env: {TOKEN_VARIABLE}, prefix: "Bearer "}}
  - id: unset
    label: Page the PSP
    confirm: Open a ticket with the PSP?
    permission: war_room
    request:
      url: {endpoint.url("/psp")}
      headers:
        Authorization: {{env: RUNBOOK_ACTION_NEVER_SET}}
"""


def runbooks_with_actions(folder: Path, endpoint: ActionEndpoint, *, runbook: str = "payments-api-errors", **options: Any) -> Path:
    """A copy of the shipped runbooks folder whose ``runbook`` declares ``actions_yaml``."""
    shutil.copytree(ROOT / "runbooks", folder)
    path = folder / f"{runbook}.md"
    text = path.read_text()
    assert text.startswith("---\n")
    path.write_text("---\n" + actions_yaml(endpoint, refused_port=closed_port(), **options) + text[len("---\n") :])
    return folder
