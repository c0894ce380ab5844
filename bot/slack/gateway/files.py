"""Files the bot shares: Slack's upload flow (``files.getUploadURLExternal``, the bytes, then
``files.completeUploadExternal``) and finding a file an interrupted upload already shared."""

from __future__ import annotations

from bot.slack.gateway.chat import Chat
from bot.slack.transport import SlackTransport


class Files:
    def __init__(self, transport: SlackTransport, chat: Chat) -> None:
        self._transport = transport
        self._chat = chat

    async def upload(
        self,
        channel: str | None,
        content: bytes,
        *,
        filename: str,
        title: str,
        comment: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Slack's upload flow (what files_upload_v2 does): get an upload URL, send the bytes,
        then complete the upload into the channel (with no channel: shared nowhere, for an image
        block's ``slack_file``). Returns the file id."""
        ticket = await self._transport.call("files.getUploadURLExternal", filename=filename, length=len(content))
        await self._transport.send_bytes(ticket["upload_url"], content)
        await self._transport.call(
            "files.completeUploadExternal",
            files=[{"id": ticket["file_id"], "title": title}],
            channel_id=channel,
            initial_comment=comment,
            thread_ts=thread_ts,
        )
        file_id: str = ticket["file_id"]
        return file_id

    async def find_uploaded(self, channel: str, title: str, *, since: float) -> str | None:
        """The id of a file with this title the bot shared in the channel since ``since``, if any."""
        for message in await self._chat.bots_own_since(channel, since):
            for file_id, file_title in message.files:
                if file_title == title:
                    return file_id
        return None
