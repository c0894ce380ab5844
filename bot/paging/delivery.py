"""One JSON POST to a pager, with the retries PagerDuty's Events API v2 documents: a 429 (rate
limited) or a 5xx (PagerDuty's trouble) or no answer at all is retried with growing pauses,
Retry-After honoured when it says more; any other 4xx (400: the event or its routing key is
wrong) is a configuration error that no retry mends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

# Pauses before the second, third... attempt: about half a minute in all, well inside a page's worth.
RETRY_PAUSES = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_RETRY_AFTER = 30.0
TIMEOUT_SECONDS = 10.0


async def pause(seconds: float) -> None:
    """The wait between attempts (a module function, so tests let other tasks run instead)."""
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None  # the last HTTP status, None when nothing answered
    reason: str | None = None  # why it failed, in words that say what to fix
    attempts: int = 1
    configuration_error: bool = False  # the receiver refused the request itself: check the settings


def _answer_text(raw: bytes) -> str:
    try:
        answer = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace")
    if isinstance(answer, dict):
        message = answer.get("message") or answer.get("error") or ""
        errors = answer.get("errors")
        return f"{message}: {'; '.join(map(str, errors))}" if isinstance(errors, list) and errors else str(message)
    return str(answer)[:200]


def _retry_after(headers: Any, default: float) -> float:
    try:
        return min(max(float(headers.get("Retry-After", default)), default), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return default


async def post_json(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], *, what: str) -> Delivery:
    """POST ``body`` until it is taken (2xx), refused for good (4xx other than 429), or the retries run out."""
    attempts = 0
    status: int | None = None
    reason = "no answer"
    for wait in (*RETRY_PAUSES, None):
        attempts += 1
        try:
            async with session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            ) as response:
                status = response.status
                raw = await response.read()
                if 200 <= status < 300:
                    return Delivery(True, status, attempts=attempts)
                text = _answer_text(raw)
                if status != 429 and status < 500:
                    return Delivery(
                        False, status, f"{what} refused the request ({status} {text})".strip(), attempts=attempts, configuration_error=True
                    )
                reason = f"{what} answered {status} {text}".strip()
                wait = _retry_after(response.headers, wait) if wait is not None and status == 429 else wait
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            status, reason = None, f"{what} did not answer ({type(error).__name__}: {error})"
        if wait is None:
            break
        await pause(wait)
    return Delivery(False, status, f"{reason}, after {attempts} attempts", attempts=attempts)
