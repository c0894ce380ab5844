"""The two HMAC-SHA256 signature schemes of paging: PagerDuty's V3 webhooks sign the raw body
(``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``, several during a secret rotation); the bot's
generic paging webhook signs ``<timestamp>.<body>`` (``X-Incident-Bot-Signature: v1=<hex>`` with
``X-Incident-Bot-Timestamp: <unix seconds>``), so a receiver can refuse a replayed old body."""

from __future__ import annotations

import hashlib
import hmac

PAGERDUTY_SIGNATURE_HEADER = "X-PagerDuty-Signature"
WEBHOOK_SIGNATURE_HEADER = "X-Incident-Bot-Signature"
WEBHOOK_TIMESTAMP_HEADER = "X-Incident-Bot-Timestamp"


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def pagerduty_signature(secret: str, body: bytes) -> str:
    """The header value PagerDuty sends for ``body`` signed with ``secret``."""
    return f"v1={_hex_hmac(secret, body)}"


def pagerduty_signature_valid(header: str | None, body: bytes, secret: str) -> bool:
    """True when one of the header's ``v1=`` signatures is the HMAC of the raw body (constant time)."""
    if not header:
        return False
    expected = _hex_hmac(secret, body).encode("ascii")
    presented = [part.strip().removeprefix("v1=") for part in header.split(",") if part.strip().startswith("v1=")]
    # Every candidate is compared, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(candidate.encode("utf-8", "replace"), expected) for candidate in presented]
    return any(matches)


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Incident-Bot-Signature`` of a generic paging webhook call."""
    return f"v1={_hex_hmac(secret, str(timestamp).encode('ascii') + b'.' + body)}"
