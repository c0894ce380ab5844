"""An alert storm (a region down: one alert per service within seconds) against the fake Slack
enforcing Slack's published rate limits: what tests/test_rate_limits.py checks and
benchmarks/storm.py times.

The services are made up, each as a catalog usually has them: an owner by user ID, an on-call
group by ID (so ``usergroups.users.list``, Tier 2) and a dashboard (one ``bookmarks.add``, Tier 2).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from tests.fake_slack import FakeSlack, RecordedCall, step_payload

ALERT_SECRET = "storm-alert-secret-0123456789"


def service_name(n: int) -> str:
    return f"region-svc-{n:02d}"


def write_catalog(path: Path, count: int) -> Path:
    services = [
        {
            "name": service_name(n),
            "team": f"team-{n % 5}",
            "owners": [f"USTORMOWN{n:02d}"],
            "oncall_group": f"SSTORM{n:04d}",
            "dashboard": f"https://grafana.example/d/{service_name(n)}",
        }
        for n in range(count)
    ]
    path.write_text(yaml.safe_dump({"services": services}))
    return path


def seed_people(fake: FakeSlack, count: int) -> None:
    for n in range(count):
        fake.add_user(f"USTORMOWN{n:02d}", f"owner-{n:02d}")
        members = [f"USTORMONC{n:02d}{m}" for m in range(2)]
        for member in members:
            fake.add_user(member, member.lower())
        fake.add_usergroup(f"SSTORM{n:04d}", f"storm-oncall-{n:02d}", members)


def alert(n: int, severity: str) -> dict:
    return {
        "service": service_name(n),
        "title": f"{service_name(n)} unreachable in eu-west",
        "status": "firing",
        "dedup_key": f"region-down-{n:02d}",
        "severity": severity,
        "started_at": "2026-12-03T09:00:00Z",
    }


async def send_alert(session: aiohttp.ClientSession, port: int, body: dict) -> None:
    async with session.post(
        f"http://127.0.0.1:{port}/hooks/alerts",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ALERT_SECRET}"},
    ) as response:
        assert response.status < 300, (response.status, await response.text())


async def send_alerts(ports: list[int], alerts: list[dict]) -> None:
    """Each alert its own webhook delivery, all at once, spread over the processes in turn."""
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(send_alert(session, ports[n % len(ports)], body) for n, body in enumerate(alerts)))


def rate_limited(fake: FakeSlack) -> list[RecordedCall]:
    return [call for call in fake.calls if call.error == "ratelimited"]


def refusals_told(fake: FakeSlack) -> str:
    """Each 429, with the calls its bucket let through within the window before it (the ones that
    filled the window): how long before it each arrived, and whether Slack had answered it by
    then. What a failed storm test prints, so that a rare failure says which calls crowded a window."""
    assert fake.rate_limits is not None
    lines = []
    for refused in rate_limited(fake):
        limit = fake.rate_limits.limit(refused.method, refused.args)
        assert limit is not None
        _bucket, _calls, window = limit
        bucket = (refused.method, refused.args.get("channel"))
        crowd = [
            call
            for call in fake.calls
            if call.ok
            and (call.method, call.args.get("channel")) == bucket
            and refused.at - window < call.at <= refused.at
            and call.seq != refused.seq
        ]
        lines.append(
            f"{' '.join(map(str, bucket))} {_step_of(refused)} {str(refused.args.get('text', ''))[:40]!r} (#{refused.seq}), its window held:"
        )
        for call in crowd:
            answered = "answered" if call.seq in refused.after else "NOT yet answered"
            lines.append(f"    {1000 * (refused.at - call.at):.1f} ms before: {_step_of(call)} (#{call.seq}, {answered} when it arrived)")
    return "\n".join(lines)


def _step_of(call: RecordedCall) -> str:
    """The war-room step a post was made for (its metadata), or "-"."""
    payload = step_payload(call.args)
    return f"{payload.get('step', '-')} of INC-{payload.get('incident', '?')}" if payload else "-"


def control_messages(fake: FakeSlack) -> list[int]:
    """The incidents whose control message Slack posted, in the order it received them (each
    step's post carries its incident and step in its metadata)."""
    posted = []
    for call in fake.calls_to("chat.postMessage"):
        payload = step_payload(call.args)
        if call.ok and payload.get("step") == "control_message":
            posted.append(int(payload["incident"]))
    return posted


@dataclass(frozen=True)
class TierMinimum:
    seconds: float  # the least time Slack's windows allow for the calls made
    method: str  # the bucket that sets it
    calls: int
    waited_for: float = 0.0  # of which the wait for the alert its first call of the last window belongs to


def tier_minimum(fake: FakeSlack, arrivals: Sequence[float] = ()) -> TierMinimum:
    """The least time the calls the fake answered could have taken under its windows. A bucket
    allowing N calls per window W needs, for K calls, m = floor((K - 1) / N) windows after its
    (K - mN)-th call. With ``arrivals`` (when each alert reached the bot, from the storm's start), a
    bucket whose calls come the same number p to each alert cannot make its j-th call before the
    ceil(j / p)-th alert arrived, so the (K - mN)-th call waits for that alert first: with 30
    channels at 20 a window, the tenth alert, then one window."""
    assert fake.rate_limits is not None
    counts: Counter[tuple[str, int, float]] = Counter()
    for call in fake.calls:
        if call.ok:
            limit = fake.rate_limits.limit(call.method, call.args)
            if limit is not None:
                counts[limit] += 1
    arrived = sorted(arrivals)
    worst = TierMinimum(0.0, "", 0)
    for (bucket, calls, window), made in counts.items():
        windows = (made - 1) // calls
        first_call = 0.0
        if windows and arrived and made % len(arrived) == 0:
            per_alert = made // len(arrived)
            first_call = arrived[math.ceil((made - windows * calls) / per_alert) - 1]
        seconds = first_call + windows * window
        if seconds > worst.seconds:
            worst = TierMinimum(seconds, bucket, made, first_call)
    return worst
