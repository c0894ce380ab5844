"""The war room's call link: the service's standing bridge from the catalog (``call:``), or a
generated meeting room.

A generated Jitsi Meet room needs no API: its name is derived from the incident (number and the
moment it was recorded) with a key only the bot holds, so it cannot be guessed from the incident
number, and every process, every repair and every rebuild of the control message finds the same
room without storing it first. Opening never waits on a meeting provider: the link is known at once.
A private incident never gets the service's standing bridge (other incidents' people are on it):
it gets a generated room, or none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from bot.catalog.services import Service
from bot.core.records import IncidentRecord

DEFAULT_JITSI_BASE_URL = "https://meet.jit.si"
CALL_BOOKMARK_TITLE = "Incident call"


@dataclass(frozen=True)
class CallLinks:
    key: bytes
    generate: Literal["jitsi", "none"] = "jitsi"
    jitsi_base_url: str = DEFAULT_JITSI_BASE_URL

    def link_for(self, incident: IncidentRecord, service: Service | None) -> str | None:
        if service is not None and service.call and not incident.is_private:
            return service.call
        if self.generate == "jitsi":
            return f"{self.jitsi_base_url.rstrip('/')}/{self.room_name(incident)}"
        return None

    def room_name(self, incident: IncidentRecord) -> str:
        seed = f"incident-bot call {incident.id} {incident.created_at.isoformat()}".encode()
        digest = hmac.new(self.key, seed, hashlib.sha256).digest()[:15]
        return f"Incident{incident.id}-{base64.b32encode(digest).decode().lower()}"


NO_CALL_LINKS = CallLinks(key=b"", generate="none")
