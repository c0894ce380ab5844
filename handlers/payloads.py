"""The parts of Slack's request payloads the bot reads, validated with pydantic."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bot.core.text_input import row_number, storable

# 9999-12-31T23:59:59Z, the last second Python's datetime can hold.
LATEST_EPOCH = 253402300799

# What a person typed, made storable (no NUL or control characters, no lone surrogates).
TypedText = Annotated[str, AfterValidator(storable)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


def string_metadata(private_metadata: str) -> dict[str, str]:
    """The string values of a view's private_metadata (the bot writes a JSON object of strings);
    empty for anything else, which only a forged or damaged payload carries."""
    try:
        data = json.loads(private_metadata or "{}")
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


class SlashCommand(_Payload):
    command: str
    text: TypedText = ""
    user_id: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    trigger_id: str = Field(min_length=1)
    response_url: str = Field(min_length=1)
    team_id: str = ""


class _User(_Payload):
    id: str = Field(min_length=1)


class _View(_Payload):
    id: str = Field(min_length=1)
    callback_id: str = ""
    private_metadata: str = ""
    state: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class ViewSubmission(_Payload):
    user: _User
    view: _View

    def metadata(self) -> dict[str, str]:
        """The string values the bot put in private_metadata when it opened the view."""
        return string_metadata(self.view.private_metadata)

    def _element(self, block_id: str) -> dict[str, Any]:
        elements = self.view.state.get("values", {}).get(block_id, {})
        return next(iter(elements.values()), {}) if elements else {}

    def text_value(self, block_id: str) -> str | None:
        value = self._element(block_id).get("value")
        return storable(value) if isinstance(value, str) else None

    def selected_value(self, block_id: str) -> str | None:
        option = self._element(block_id).get("selected_option") or {}
        value = option.get("value") if isinstance(option, dict) else None
        return storable(value) if isinstance(value, str) else None

    def checked_values(self, block_id: str) -> list[str]:
        options = self._element(block_id).get("selected_options") or []
        return [o["value"] for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]

    def selected_user(self, block_id: str) -> str | None:
        value = self._element(block_id).get("selected_user")
        return value if isinstance(value, str) and value else None

    def selected_date(self, block_id: str) -> str | None:
        value = self._element(block_id).get("selected_date")
        return value if isinstance(value, str) and value else None

    def selected_date_time(self, block_id: str) -> int | None:
        """Unix seconds, None when nothing was picked; ValueError for a number no time can be
        (negative, past year 9999, NaN), which only a forged or damaged payload carries."""
        value = self._element(block_id).get("selected_date_time")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        if not 0 <= value <= LATEST_EPOCH:
            raise ValueError(f"selected_date_time {str(value)[:20]} is not a time")
        return int(value)

    def metadata_number(self, key: str) -> int:
        """An incident or other row number the bot put in private_metadata. ValueError when it is
        missing or could not be one (bot.core.text_input.row_number), before it reaches the database."""
        return row_number(self.metadata().get(key))


class _Container(_Payload):
    channel_id: str | None = None
    message_ts: str | None = None


class _Channel(_Payload):
    id: str


class _Option(_Payload):
    value: str


class _Action(_Payload):
    action_id: str
    block_id: str = ""
    value: str | None = None
    action_ts: str | None = None
    selected_options: list[_Option] = Field(default_factory=list)
    selected_option: _Option | None = None
    selected_user: str | None = None


class _Message(_Payload):
    ts: str | None = None
    blocks: list[dict[str, Any]] = Field(default_factory=list)


class _ActionView(_Payload):
    id: str
    hash: str | None = None
    private_metadata: str = ""


class BlockAction(_Payload):
    user: _User
    trigger_id: str | None = None
    response_url: str | None = None
    container: _Container = Field(default_factory=_Container)
    channel: _Channel | None = None
    message: _Message | None = None
    view: _ActionView | None = None
    actions: list[_Action] = Field(min_length=1)

    @property
    def action(self) -> _Action:
        return self.actions[0]

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel else self.container.channel_id
