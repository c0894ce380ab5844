"""Tests for tests/fake_slack.py: the fake must answer like Slack and its checks must bite.

Every test goes through the real slack_sdk AsyncWebClient (or raw aiohttp where the point is
to send something slack_sdk would never send), so the encodings slack_sdk really uses are
what the fake is proven against.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests import fake_slack as fake_slack_module
from tests.fake_slack import FakeSlack, RecordedCall, load_method_specs
from tests.waiting import HANG_SECONDS

TOKEN = "xoxb-test-token"

REQUIRED_METHODS = {
    "auth.test",
    "conversations.create",
    "conversations.invite",
    "conversations.setTopic",
    "conversations.info",
    "conversations.join",
    "chat.postMessage",
    "chat.postEphemeral",
    "chat.update",
    "chat.getPermalink",
    "pins.add",
    "views.open",
    "views.update",
    "views.publish",
    "users.info",
    "users.lookupByEmail",
    "usergroups.users.list",
    "usergroups.list",
    "bookmarks.add",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
    "apps.connections.open",
    "conversations.members",
    "conversations.list",
    "conversations.history",
    "bookmarks.list",
    "openid.connect.token",
    "openid.connect.userInfo",
    "conversations.open",
}

MODAL = {
    "type": "modal",
    "callback_id": "declare_incident",
    "title": {"type": "plain_text", "text": "Declare incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title"},
        }
    ],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    fake.add_user("U0ALICE01", "alice", email="alice@example.com")
    fake.add_user("U0BOB0001", "bob", tz="America/New_York", tz_offset=-18000)
    yield fake
    await fake.stop()


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url, timeout=HANG_SECONDS)
    yield client


async def raw_post(fake: FakeSlack, method: str, *, headers: dict | None = None, **kwargs) -> tuple[int, dict]:
    """POST without slack_sdk, to send what slack_sdk would refuse to send."""
    async with aiohttp.ClientSession() as session:
        async with session.post(fake.base_url + method, headers=headers, **kwargs) as resp:
            return resp.status, await resp.json()


# ---- data files ----------------------------------------------------------------------------


def test_method_descriptions_are_copied_and_loaded() -> None:
    specs = load_method_specs()
    assert set(specs) == REQUIRED_METHODS
    for name, spec in specs.items():
        assert "args" in spec and "http_method" in spec, name


def test_reference_payloads_and_manifest_schema_parse() -> None:
    root = Path(__file__).parent / "slack_api"
    names = {p.name for p in (root / "payloads").glob("*.json")}
    assert names == {"SlashCommandPayload.json", "BlockActionPayload.json", "ViewSubmissionPayload.json", "MessageShortcutPayload.json"}
    for path in [*(root / "payloads").glob("*.json"), root / "manifest.schema.1.0.0.json"]:
        assert isinstance(json.loads(path.read_text()), dict), path


# ---- wire format ---------------------------------------------------------------------------


async def test_auth_test_shape_and_content_type(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.data["user_id"] == "UBOT0001"
    assert resp.data["team_id"] == "T0001"
    for key in ("ok", "url", "team", "user", "bot_id", "is_enterprise_install"):
        assert key in resp.data
    assert resp.data["is_enterprise_install"] is False
    assert fake.base_url.startswith("http://127.0.0.1:") and fake.base_url.endswith("/api/")
    assert fake.violations == []


async def test_a_call_is_answered_one_latency_after_it_arrived_not_after_the_fakes_checks(
    fake: FakeSlack, client: AsyncWebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The benchmarks take a call's arrival (RecordedCall.at) + latency as the moment Slack answered
    # it: the fake's own checking of the call (arguments, Block Kit) is inside that round trip, so
    # what is left of it to wait is the latency less the time the checks took. The fake's clock is
    # this test's: the checks take a quarter of a second of it.
    fake.latency = 0.5
    readings = iter([100.0, 100.25])
    fake.now = lambda: next(readings)
    asked: list[float] = []
    wait = asyncio.sleep

    async def recorded_wait(delay: float, *args: object, **kwargs: object) -> object:
        if delay > 0:
            asked.append(delay)
        return await wait(0)

    monkeypatch.setattr(fake_slack_module, "precise_sleep", recorded_wait)
    await client.chat_postMessage(
        channel="U0ALICE01", text="hello", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]
    )
    assert asked == [0.25]
    assert fake.calls_to("chat.postMessage")[0].at == 100.0


async def test_missing_and_bad_tokens(fake: FakeSlack) -> None:
    no_token = AsyncWebClient(base_url=fake.base_url)
    with pytest.raises(SlackApiError) as err:
        await no_token.auth_test()
    assert err.value.response["error"] == "not_authed"

    user_token = AsyncWebClient(token="xoxp-user-token", base_url=fake.base_url)
    with pytest.raises(SlackApiError) as err:
        await user_token.auth_test()
    assert err.value.response["error"] == "invalid_auth"

    # A token inside a JSON body is ignored by Slack: JSON callers must use the header.
    status, body = await raw_post(fake, "chat.postMessage", json={"token": TOKEN, "channel": "C1", "text": "x"})
    assert (status, body["error"]) == (200, "not_authed")

    # ... but a form-encoded token argument is fine.
    status, body = await raw_post(fake, "auth.test", data={"token": TOKEN})
    assert body["ok"] is True


async def test_unknown_method_is_answered_and_a_violation(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.postMesage", json={"channel": "C1", "text": "typo"})
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "unknown_method"
    assert any("chat.postMesage" in v and "unknown method" in v for v in fake.violations)


async def test_unknown_argument_is_a_violation(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general")
    # Slack ignores unknown arguments, so the call succeeds: only the violation shows it.
    await client.chat_postMessage(channel=cid, text="hi", colour="red")
    assert len(fake.violations) == 1
    assert "'colour' is not in the method's description" in fake.violations[0]


async def test_missing_required_argument(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("users.info", http_verb="GET", params={})
    assert err.value.response["error"] == "invalid_arguments"
    assert err.value.response["response_metadata"]["messages"] == ["[ERROR] missing required field: user"]
    assert fake.violations == ["users.info: missing required argument 'user'"]

    # Where the description has its own error for it, that is the answer.
    with pytest.raises(SlackApiError) as err:
        await client.api_call("conversations.create", params={})
    assert err.value.response["error"] == "invalid_name_required"


async def test_one_of_rules(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general")
    with pytest.raises(SlackApiError) as err, pytest.warns(UserWarning, match="`text`"):
        await client.chat_postMessage(channel=cid)
    assert err.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as err:
        await client.views_open(view=MODAL)  # neither trigger_id nor interactivity_pointer
    assert err.value.response["error"] == "invalid_arguments"
    assert len(fake.violations) == 2
    assert "needs one of text, blocks, attachments, markdown_text" in fake.violations[0]
    assert "needs one of trigger_id, interactivity_pointer" in fake.violations[1]
    assert fake.channels[cid].messages == []


async def test_get_on_post_method_and_json_to_form_method(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.api_call("auth.test", http_verb="GET")  # auth.test is POST in the docs
    assert any("HTTP GET" in v for v in fake.violations)
    fake.violations.clear()
    await client.api_call("users.info", json={"user": "U0ALICE01"})  # not json_input_supported
    assert any("does not accept JSON input" in v for v in fake.violations)


async def test_argument_type_violations(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general")
    posted = await client.chat_postMessage(channel=cid, text="x")
    # A float ts is a classic bug: Slack's ts is a string, and a float may not round-trip to
    # it (then the answer is message_not_found too), so only the violation is asserted.
    with contextlib.suppress(SlackApiError):
        await client.api_call("pins.add", json={"channel": cid, "timestamp": float(posted["ts"])})
    assert any("'timestamp'" in v and "expected string" in v for v in fake.violations)
    fake.violations.clear()
    await client.api_call("conversations.create", params={"name": "x1", "is_private": "maybe"})
    assert any("'is_private'" in v and "boolean" in v for v in fake.violations)


async def test_malformed_bodies(fake: FakeSlack) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, body = await raw_post(fake, "auth.test", data=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert body["error"] == "invalid_json"
    status, body = await raw_post(fake, "auth.test", data=b"<xml/>", headers={**auth, "Content-Type": "text/xml"})
    assert body["error"] == "invalid_post_type"


# ---- scopes, faults, latency -----------------------------------------------------------------


async def test_missing_scope(fake: FakeSlack) -> None:
    limited = FakeSlack(bot_scopes={"chat:write", "users:read"})
    await limited.start()
    try:
        client = AsyncWebClient(token=TOKEN, base_url=limited.base_url)
        with pytest.raises(SlackApiError) as err:
            await client.conversations_create(name="inc-1")
        data = err.value.response.data
        assert data == {"ok": False, "error": "missing_scope", "needed": "groups:write", "provided": "chat:write,users:read"}
        assert err.value.response.headers["x-accepted-oauth-scopes"].startswith("groups:write")
        assert limited.channels == {}
        # no_scope_required methods and granted scopes pass.
        await client.auth_test()
        await client.users_info(user="UBOT0001")
        assert limited.violations == []
    finally:
        await limited.stop()


async def test_users_info_hides_email_without_scope() -> None:
    fake = FakeSlack(bot_scopes={"users:read"})
    await fake.start()
    try:
        fake.add_user("U0ALICE01", "alice", email="alice@example.com")
        client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
        resp = await client.users_info(user="U0ALICE01")
        assert "email" not in resp["user"]["profile"]
    finally:
        await fake.stop()


async def test_ratelimited_429_with_retry_after(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    cid = fake.add_channel("general")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=cid, text="hi")
    resp = err.value.response
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "7"
    assert resp.data == {"ok": False, "error": "ratelimited"}
    assert fake.channels[cid].messages == []  # faulted calls change no state
    assert fake.calls_to("chat.postMessage")[-1].error == "ratelimited"
    # The fault was used up: the next call goes through.
    await client.chat_postMessage(channel=cid, text="hi")
    assert len(fake.channels[cid].messages) == 1


async def test_ratelimit_retry_handler_honours_retry_after(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    fake.fail_next("auth.test", status=429, retry_after=1)
    resp = await client.auth_test()  # how long it waited: benchmarks/timings.py
    assert resp["ok"] is True
    assert [c.error for c in fake.calls_to("auth.test")] == ["ratelimited", None]


async def test_fail_next_error_times_and_5xx(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("conversations.create", "fatal_error", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.conversations_create(name="inc-1")
        assert err.value.response["error"] == "fatal_error"
    assert fake.channels == {}
    await client.conversations_create(name="inc-1")

    fake.fail_next("auth.test", status=503)
    with pytest.raises(SlackApiError) as err:
        await client.auth_test()
    assert err.value.response.status_code == 503
    assert err.value.response.headers["Content-Type"].startswith("text/plain")


async def test_fail_next_delay_times_out_client(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url, timeout=0.2)
    fake.fail_next("auth.test", delay=HANG_SECONDS)  # held until the fake stops
    with pytest.raises(asyncio.TimeoutError):
        await client.auth_test()
    call = await fake.wait_for_call("auth.test")
    assert call.ok is False


async def test_latency_is_added(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.latency = 0.2
    assert (await client.auth_test())["ok"] is True  # how long it took: benchmarks/timings.py
    fake.latency = 0.0


async def test_a_call_is_never_answered_before_its_latency_is_up(fake: FakeSlack, client: AsyncWebClient) -> None:
    # The fake's timer wakes it early on purpose (precise_sleep): the last stretch must still be
    # waited out. Late is allowed (a busy machine); early never.
    fake.latency = 0.05
    for _ in range(5):
        await client.auth_test()
        answered = time.monotonic()
        assert answered >= fake.calls_to("auth.test")[-1].at + fake.latency
    fake.latency = 0.0


async def test_a_new_connections_first_call_arrives_only_after_its_handshakes(fake: FakeSlack) -> None:
    # connection_setup models TCP's and TLS's handshakes: the first call on each connection arrives
    # that much after it was sent; later calls on the same connection do not pay it again.
    fake.connection_setup = 0.05
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=TOKEN, base_url=fake.base_url, session=session)
        sent = time.monotonic()
        await client.auth_test()
        assert fake.calls_to("auth.test")[-1].at >= sent + fake.connection_setup
        fake.connection_setup = HANG_SECONDS  # a second setup would hang the test: the connection is reused
        await client.auth_test()
        assert len(fake.requests_per_connection) == 1
    fake.connection_setup = 0.0


# ---- recording and waiting -----------------------------------------------------------------


async def test_wait_for_call_past_and_future(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.auth_test()
    past = await fake.wait_for_call("auth.test")
    assert isinstance(past, RecordedCall) and past.ok and past.error is None
    assert past.at <= time.monotonic()

    cid = fake.add_channel("general")

    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel=cid, text="first")
        await client.chat_postMessage(channel=cid, text="second")

    task = asyncio.create_task(later())
    call = await fake.wait_for_call("chat.postMessage", lambda c: c.args.get("text") == "second")
    assert call.args["channel"] == cid
    await task

    with pytest.raises(AssertionError, match=r"recorded methods: \['auth.test', "):
        await fake.wait_for_call("views.open", timeout=0.1)


async def test_recorded_args_are_decoded_and_tokenless(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.conversations_create(name="inc-1", is_private=True)
    call = fake.calls_to("conversations.create")[0]
    assert call.args == {"name": "inc-1", "is_private": "1"}  # slack_sdk sends bools as 1/0


# ---- conversations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("a" * 81, "invalid_name_maxlength"),
        ("Inc-1", "invalid_name_specials"),
        ("inc 1", "invalid_name_specials"),
        ("inc.1", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
    ],
)
async def test_conversations_create_name_rules(fake: FakeSlack, client: AsyncWebClient, name: str, error: str) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.conversations_create(name=name)
    assert err.value.response["error"] == error
    assert fake.violations == []


async def test_conversations_create_and_name_taken(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.conversations_create(name="inc-2024-001", is_private=False)
    ch = resp["channel"]
    assert re.fullmatch(r"C0[A-Z0-9]{9}", ch["id"])
    assert ch["name"] == ch["name_normalized"] == "inc-2024-001"
    assert ch["creator"] == "UBOT0001" and ch["is_member"] is True
    assert ch["is_channel"] is True and ch["is_private"] is False and ch["is_im"] is False
    assert ch["topic"] == {"value": "", "creator": "", "last_set": 0}
    assert fake.channels[ch["id"]].members == {"UBOT0001"}
    assert fake.channel_by_name("inc-2024-001").id == ch["id"]
    with pytest.raises(SlackApiError) as err:
        await client.conversations_create(name="inc-2024-001")
    assert err.value.response["error"] == "name_taken"
    # Archived channels keep their names.
    fake.add_channel("inc-old", is_archived=True)
    with pytest.raises(SlackApiError) as err:
        await client.conversations_create(name="inc-old")
    assert err.value.response["error"] == "name_taken"
    assert fake.violations == []


async def test_conversations_invite(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = (await client.conversations_create(name="inc-1"))["channel"]["id"]
    resp = await client.conversations_invite(channel=cid, users=["U0ALICE01", "U0BOB0001"])
    assert resp["channel"]["id"] == cid
    assert fake.channels[cid].members == {"UBOT0001", "U0ALICE01", "U0BOB0001"}

    async def invite_error(channel: str, users: str) -> SlackApiError:
        with pytest.raises(SlackApiError) as err:
            await client.conversations_invite(channel=channel, users=users)
        return err.value

    assert (await invite_error(cid, "U0ALICE01")).response["error"] == "already_in_channel"
    fake.add_user("U0CAROL01", "carol")
    # Users already in are skipped when someone new is invited.
    await client.conversations_invite(channel=cid, users="U0ALICE01,U0CAROL01")
    assert "U0CAROL01" in fake.channels[cid].members
    # Without force one bad id fails the whole call; with force the valid ones are invited.
    fake.add_user("U0DAVE001", "dave")
    assert (await invite_error(cid, "U0DAVE001,U0NOBODY1")).response["error"] == "user_not_found"
    assert "U0DAVE001" not in fake.channels[cid].members
    forced = await client.conversations_invite(channel=cid, users="U0DAVE001,U0NOBODY1", force=True)
    assert forced["errors"][0]["user"] == "U0NOBODY1"
    assert "U0DAVE001" in fake.channels[cid].members
    assert (await invite_error(cid, "UBOT0001")).response["error"] == "cant_invite_self"
    err = await invite_error(cid, "U0NOBODY1")
    assert err.response["error"] == "user_not_found"
    assert err.response["errors"] == [{"user": "U0NOBODY1", "ok": False, "error": "user_not_found"}]
    assert (await invite_error("C0NOTREAL1", "U0ALICE01")).response["error"] == "channel_not_found"
    outside = fake.add_channel("elsewhere", bot_is_member=False)
    assert (await invite_error(outside, "U0ALICE01")).response["error"] == "not_in_channel"
    assert fake.violations == []


async def test_set_topic_info_join(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = (await client.conversations_create(name="inc-1"))["channel"]["id"]
    resp = await client.conversations_setTopic(channel=cid, topic="SEV1: checkout down")
    assert resp["channel"]["topic"]["value"] == "SEV1: checkout down"
    assert resp["channel"]["topic"]["creator"] == "UBOT0001"
    assert fake.channels[cid].topic == "SEV1: checkout down"
    with pytest.raises(SlackApiError) as err:
        await client.conversations_setTopic(channel=cid, topic="x" * 251)
    assert err.value.response["error"] == "too_long"

    info = await client.conversations_info(channel=cid, include_num_members=True)
    assert info["channel"]["num_members"] == 1

    public = fake.add_channel("ops", bot_is_member=False)
    with pytest.raises(SlackApiError) as err:
        await client.conversations_setTopic(channel=public, topic="x")
    assert err.value.response["error"] == "not_in_channel"
    joined = await client.conversations_join(channel=public)
    assert joined["channel"]["is_member"] is True
    again = await client.conversations_join(channel=public)
    assert again["warning"] == "already_in_channel"

    private = fake.add_channel("secret", is_private=True, bot_is_member=False)
    with pytest.raises(SlackApiError) as err:
        await client.conversations_info(channel=private)
    assert err.value.response["error"] == "channel_not_found"
    assert fake.violations == []


# ---- chat ----------------------------------------------------------------------------------


async def test_post_message_and_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1* declared"}}]
    resp = await client.chat_postMessage(channel=cid, text="SEV1 declared", blocks=blocks)
    assert resp["channel"] == cid
    assert re.fullmatch(r"\d{10}\.\d{6}", resp["ts"])
    msg = resp["message"]
    assert msg["user"] == "UBOT0001" and msg["bot_id"] and msg["type"] == "message"
    assert msg["blocks"] == blocks and msg["text"] == "SEV1 declared" and msg["ts"] == resp["ts"]
    reply = await client.chat_postMessage(channel=cid, text="update", thread_ts=resp["ts"])
    assert reply["ts"] > resp["ts"]
    stored = fake.channels[cid].messages
    assert [m["text"] for m in stored] == ["SEV1 declared", "update"]
    assert stored[1]["thread_ts"] == resp["ts"]
    assert fake.violations == []


async def test_post_message_errors(fake: FakeSlack, client: AsyncWebClient) -> None:
    async def post_error(**kwargs) -> str:
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(**kwargs)
        return err.value.response["error"]

    assert await post_error(channel="C0NOTREAL1", text="x") == "channel_not_found"
    outside = fake.add_channel("outside", bot_is_member=False)
    assert await post_error(channel=outside, text="x") == "not_in_channel"
    archived = fake.add_channel("old", is_archived=True)
    assert await post_error(channel=archived, text="x") == "is_archived"
    cid = fake.add_channel("general")
    assert await post_error(channel=cid, text="x" * 40_001) == "msg_too_long"
    many = [{"type": "divider"}] * 51
    assert await post_error(channel=cid, text="x", blocks=many) == "invalid_blocks"
    # Size limits are answers, not violations: content depends on user input.
    assert fake.violations == []
    long_header = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=cid, text="x", blocks=long_header)
    assert err.value.response["error"] == "invalid_blocks"
    assert err.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert fake.channels[cid].messages == []


async def test_malformed_blocks_are_violations(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general")
    bad = [
        {"type": "header", "text": {"type": "mrkdwn", "text": "*bold*"}},
        {"type": "sectoin", "text": {"type": "mrkdwn", "text": "typo"}},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "A"}},
                {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "B"}},
            ],
        },
    ]
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=cid, text="x", blocks=bad)
    assert err.value.response["error"] == "invalid_blocks"
    assert len(fake.violations) == 3
    assert "/blocks/0/text/type" in fake.violations[0]
    assert "'sectoin'" in fake.violations[1]
    assert "duplicate action_id 'ack'" in fake.violations[2]


async def test_form_encoded_blocks_are_decoded(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general")
    blocks = [{"type": "divider"}]
    await client.api_call("chat.postMessage", data={"channel": cid, "text": "x", "blocks": json.dumps(blocks)})
    assert fake.channels[cid].messages[0]["blocks"] == blocks
    assert fake.violations == []


async def test_form_encoded_view_is_decoded(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.api_call("views.open", data={"trigger_id": fake.trigger_id(), "view": json.dumps(MODAL)})
    assert fake.views[resp["view"]["id"]]["title"] == MODAL["title"]
    assert fake.violations == []


async def test_post_to_user_opens_dm(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postMessage(channel="U0ALICE01", text="You are IC")
    assert resp["channel"].startswith("D")
    dm = fake.channels[resp["channel"]]
    assert dm.is_im and dm.members == {"U0ALICE01", "UBOT0001"}
    again = await client.chat_postMessage(channel="U0ALICE01", text="again")
    assert again["channel"] == resp["channel"]


async def test_ephemeral(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general", members={"U0ALICE01"})
    resp = await client.chat_postEphemeral(channel=cid, user="U0ALICE01", text="only you")
    assert set(resp.data) == {"ok", "message_ts"}
    eph = fake.channels[cid].ephemerals[0]
    assert eph["user"] == "U0ALICE01" and eph["text"] == "only you"
    assert eph["ts"] == resp["message_ts"]
    with pytest.raises(SlackApiError) as err:
        await client.chat_postEphemeral(channel=cid, user="U0BOB0001", text="x")
    assert err.value.response["error"] == "user_not_in_channel"
    assert fake.channels[cid].messages == []


async def test_update_permalink_pin(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("general")
    ts = (await client.chat_postMessage(channel=cid, text="v1"))["ts"]
    resp = await client.chat_update(channel=cid, ts=ts, text="v2", blocks=[{"type": "divider"}])
    assert (resp["channel"], resp["ts"], resp["text"]) == (cid, ts, "v2")
    assert resp["message"]["text"] == "v2"
    assert fake.channels[cid].messages[0]["blocks"] == [{"type": "divider"}]
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel=cid, ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"

    link = await client.chat_getPermalink(channel=cid, message_ts=ts)
    assert link["permalink"] == f"https://fake.slack.com/archives/{cid}/p{ts.replace('.', '')}"

    await client.pins_add(channel=cid, timestamp=ts)
    assert fake.channels[cid].pins == [ts]
    for kwargs, error in [
        ({"timestamp": ts}, "already_pinned"),
        ({"timestamp": "1.000001"}, "message_not_found"),
        ({}, "no_item_specified"),
    ]:
        with pytest.raises(SlackApiError) as err:
            await client.pins_add(channel=cid, **kwargs)
        assert err.value.response["error"] == error
    assert fake.violations == []


# ---- views ---------------------------------------------------------------------------------


async def test_views_open_update_and_trigger_reuse(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger = fake.trigger_id()
    resp = await client.views_open(trigger_id=trigger, view=MODAL)
    view = resp["view"]
    assert view["id"].startswith("V") and view["hash"] and view["team_id"] == "T0001"
    assert view["state"] == {"values": {}} and view["callback_id"] == "declare_incident"
    assert fake.views[view["id"]]["blocks"] == MODAL["blocks"]
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=trigger, view=MODAL)
    assert err.value.response["error"] == "exchanged_trigger_id"

    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view={**MODAL, "private_metadata": "inc-1"})
    assert updated["view"]["id"] == view["id"]
    assert updated["view"]["private_metadata"] == "inc-1"
    with pytest.raises(SlackApiError) as err:  # the old hash is stale now
        await client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)
    assert err.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as err:
        await client.views_update(view_id="V0NOTREAL1", view=MODAL)
    assert err.value.response["error"] == "not_found"
    assert fake.violations == []


async def test_views_validation(fake: FakeSlack, client: AsyncWebClient) -> None:
    too_long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=fake.trigger_id(), view=too_long_title)
    assert err.value.response["error"] == "invalid_arguments"
    assert err.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]
    assert fake.violations == []

    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    with pytest.raises(SlackApiError):
        await client.views_open(trigger_id=fake.trigger_id(), view=no_submit)
    home_as_modal = {"type": "home", "blocks": []}
    with pytest.raises(SlackApiError):
        await client.views_open(trigger_id=fake.trigger_id(), view=home_as_modal)
    assert len(fake.violations) == 2
    assert "submit" in fake.violations[0] and "/view/type" in fake.violations[1]
    assert fake.views == {}


async def test_views_publish(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "No incidents"}}]}
    first = await client.views_publish(user_id="U0ALICE01", view=home)
    assert fake.published_home["U0ALICE01"]["blocks"] == home["blocks"]
    second = await client.views_publish(user_id="U0ALICE01", view=home)
    assert second["view"]["id"] == first["view"]["id"]
    with pytest.raises(SlackApiError) as err:
        await client.views_publish(user_id="U0ALICE01", view=home, hash="stale.1")
    assert err.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as err:
        await client.views_publish(user_id="U0NOBODY1", view=home)
    assert err.value.response["error"] == "invalid_arguments"
    assert fake.violations == []


# ---- users, usergroups, bookmarks ----------------------------------------------------------


async def test_users_and_usergroups(fake: FakeSlack, client: AsyncWebClient) -> None:
    user = (await client.users_info(user="U0BOB0001"))["user"]
    assert user["tz"] == "America/New_York" and user["tz_offset"] == -18000
    assert user["tz_label"] == "Eastern Standard Time" and user["is_bot"] is False
    assert user["profile"]["display_name"] == "bob"
    assert (await client.users_info(user="UBOT0001"))["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U0NOBODY1")
    assert err.value.response["error"] == "user_not_found"

    found = await client.users_lookupByEmail(email="alice@example.com")
    assert found["user"]["id"] == "U0ALICE01"
    with pytest.raises(SlackApiError) as err:
        await client.users_lookupByEmail(email="nobody@example.com")
    assert err.value.response["error"] == "users_not_found"

    fake.usergroups["S0ONCALL01"] = ["U0ALICE01", "U0BOB0001"]
    resp = await client.usergroups_users_list(usergroup="S0ONCALL01")
    assert resp["users"] == ["U0ALICE01", "U0BOB0001"]
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_users_list(usergroup="S0NOTREAL1")
    assert err.value.response["error"] == "no_such_subteam"
    assert fake.violations == []


async def test_bookmarks_add(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("inc-1")
    resp = await client.bookmarks_add(channel_id=cid, title="Runbook", type="link", link="https://runbooks.example.com/db")
    bookmark = resp["bookmark"]
    assert bookmark["id"].startswith("Bk") and bookmark["channel_id"] == cid
    assert (bookmark["title"], bookmark["link"], bookmark["type"]) == ("Runbook", "https://runbooks.example.com/db", "link")
    assert fake.channels[cid].bookmarks == [bookmark]
    with pytest.raises(SlackApiError) as err:
        await client.bookmarks_add(channel_id="C0NOTREAL1", title="x", type="link", link="https://x.example.com")
    assert err.value.response["error"] == "channel_not_found"
    assert fake.violations == []


# ---- files ---------------------------------------------------------------------------------


async def test_files_upload_v2_end_to_end(fake: FakeSlack, client: AsyncWebClient) -> None:
    cid = fake.add_channel("inc-1")
    resp = await client.files_upload_v2(
        channel=cid, content="timeline\n10:00 declared\n", filename="timeline.md", title="Timeline", initial_comment="Postmortem draft"
    )
    file_id = resp["file"]["id"]
    assert re.fullmatch(r"F0[A-Z0-9]{9}", file_id)
    stored = fake.files[file_id]
    assert stored["content"] == b"timeline\n10:00 declared\n"
    assert (stored["title"], stored["filename"], stored["channel_id"], stored["initial_comment"]) == (
        "Timeline",
        "timeline.md",
        cid,
        "Postmortem draft",
    )
    msg = fake.channels[cid].messages[-1]
    assert msg["text"] == "Postmortem draft" and msg["files"][0]["id"] == file_id
    assert [c.method for c in fake.calls] == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    assert fake.violations == []


async def test_complete_unknown_file(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.files_completeUploadExternal(files=[{"id": "F0NOTREAL1", "title": "x"}])
    assert err.value.response["error"] == "file_not_found"
    # A file whose bytes never reached the upload URL cannot be completed either.
    issued = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    assert issued["upload_url"].startswith(fake.url + "/upload/")
    with pytest.raises(SlackApiError) as err:
        await client.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert err.value.response["error"] == "file_not_found"
    assert fake.files == {}


async def test_upload_multipart_and_length_mismatch(fake: FakeSlack, client: AsyncWebClient) -> None:
    issued = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    form = aiohttp.FormData()
    form.add_field("file", b"abcd", filename="a.txt")
    async with aiohttp.ClientSession() as session:
        async with session.post(issued["upload_url"], data=form) as resp:
            assert resp.status == 200
    assert any("4 bytes uploaded" in v for v in fake.violations)
    await client.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert fake.files[issued["file_id"]]["content"] == b"abcd"


# ---- response_url ---------------------------------------------------------------------------


async def test_response_url(fake: FakeSlack) -> None:
    url = fake.response_url()
    assert url.startswith(fake.url + "/response/") and url != fake.response_url()

    async def post() -> None:
        await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={"response_type": "ephemeral", "text": "Incident declared"}) as resp:
                assert resp.status == 200 and await resp.text() == "ok"

    task = asyncio.create_task(post())
    body = await fake.wait_for_response(lambda r: r["text"].startswith("Incident"))
    await task
    assert body == {"response_type": "ephemeral", "text": "Incident declared", "_url": url}
    assert fake.violations == []
    with pytest.raises(AssertionError):
        await fake.wait_for_response(lambda r: r["text"] == "never", timeout=0.1)


# ---- what a repair reads back: metadata, channel lists, bookmarks, held calls ---------------------


async def test_message_metadata_comes_back_only_when_asked_for(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("war-room")
    metadata = {"event_type": "incident_bot_step", "event_payload": {"incident": 7, "step": "control_message"}}
    posted = await client.chat_postMessage(channel=channel, text="hello", metadata=metadata)
    plain = await client.conversations_history(channel=channel)
    assert [m["ts"] for m in plain["messages"]] == [posted["ts"]] and "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel=channel, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel=channel, text="x", metadata={"event_type": "has space", "event_payload": {}})
    assert refused.value.response["error"] == "invalid_metadata_schema"
    fake.violations.clear()


async def test_channels_are_listed_a_page_at_a_time_with_their_creator(fake: FakeSlack, client: AsyncWebClient) -> None:
    for n in range(3):
        await client.conversations_create(name=f"inc-{n}-x")
    hidden = fake.add_channel("secret", is_private=True, bot_is_member=False)
    names, cursor = [], None
    while True:
        page = await client.conversations_list(types="public_channel,private_channel", limit=2, cursor=cursor)
        names += [(c["name"], c["creator"]) for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert sorted(names) == [(f"inc-{n}-x", fake.bot_user_id) for n in range(3)]
    assert hidden not in {c["id"] for c in (await client.conversations_list(types="private_channel"))["channels"]}


async def test_bookmarks_are_listed_and_a_held_call_waits_for_its_release(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("war-room")
    await client.bookmarks_add(channel_id=channel, title="dashboard", type="link", link="https://example.com/d")
    assert [(b["title"], b["link"]) for b in (await client.bookmarks_list(channel_id=channel))["bookmarks"]] == [
        ("dashboard", "https://example.com/d")
    ]
    held = fake.hold("chat.postMessage")  # not answered: released, Slack never did it
    call = asyncio.ensure_future(client.chat_postMessage(channel=channel, text="held"))
    await asyncio.wait_for(held.arrived.wait(), HANG_SECONDS)
    assert not call.done() and fake.channels[channel].messages == []
    held.release()
    with pytest.raises(SlackApiError):
        await call
    assert fake.channels[channel].messages == []
    done = fake.hold("chat.postMessage", answered=True)  # answered: Slack did it, the answer waits
    call = asyncio.ensure_future(client.chat_postMessage(channel=channel, text="made"))
    await asyncio.wait_for(done.arrived.wait(), HANG_SECONDS)
    assert [m["text"] for m in fake.channels[channel].messages] == ["made"] and not call.done()
    done.release()
    assert (await call)["ok"]


# ---- Sign in with Slack ---------------------------------------------------------------------


async def test_sign_in_with_slack_hands_out_a_code_once_for_the_registered_app_and_a_user_token(fake: FakeSlack) -> None:
    fake.add_user("U_ALICE", "alice")
    fake.add_openid_client("111.222", "app-secret")
    fake.sign_in_user = "U_ALICE"
    redirect = "https://bot.example/dashboard/callback"

    async def new_code(state: str) -> str:
        query = {"response_type": "code", "scope": "openid email profile", "client_id": "111.222", "redirect_uri": redirect}
        async with aiohttp.ClientSession() as session:
            url = f"{fake.url}/openid/connect/authorize"
            async with session.get(url, params={**query, "state": state, "nonce": "n1"}, allow_redirects=False) as answer:
                assert answer.status == 302
                back = answer.headers["Location"]
        assert back.startswith(redirect + "?") and f"state={state}" in back
        return back.split("code=")[1].split("&")[0]

    client = AsyncWebClient(base_url=fake.base_url)

    async def error_of(**arguments: str) -> str:
        with pytest.raises(SlackApiError) as refused:
            await client.openid_connect_token(**arguments)
        return refused.value.response["error"]

    code = await new_code("s1")
    assert await error_of(client_id="111.222", client_secret="bad", code=code, redirect_uri=redirect) == "bad_client_secret"
    assert await error_of(client_id="999.999", client_secret="app-secret", code=code, redirect_uri=redirect) == "invalid_client_id"
    token = await client.openid_connect_token(client_id="111.222", client_secret="app-secret", code=code, redirect_uri=redirect)
    assert token["token_type"] == "Bearer" and token["access_token"].startswith("xoxp-")
    assert await error_of(client_id="111.222", client_secret="app-secret", code=code, redirect_uri=redirect) == "invalid_code"
    other = await new_code("s2")
    assert (
        await error_of(client_id="111.222", client_secret="app-secret", code=other, redirect_uri="https://elsewhere/cb")
        == "bad_redirect_uri"
    )
    user = AsyncWebClient(base_url=fake.base_url, token=token["access_token"])
    info = await user.openid_connect_userInfo()
    assert info["https://slack.com/user_id"] == "U_ALICE" and info["https://slack.com/team_id"] == fake.team_id
    with pytest.raises(SlackApiError) as bot_token:
        await AsyncWebClient(base_url=fake.base_url, token="xoxb-1").openid_connect_userInfo()
    assert bot_token.value.response["error"] == "invalid_auth"
    assert fake.violations == []


async def test_conversations_open_gives_the_dm_a_post_to_the_user_goes_to(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U_DMTEST", "dm-test")
    opened = await client.conversations_open(users="U_DMTEST")
    assert opened["no_op"] is False
    posted = await client.chat_postMessage(channel="U_DMTEST", text="hello")
    assert posted["channel"] == opened["channel"]["id"]
    again = await client.conversations_open(users="U_DMTEST")
    assert (again["channel"]["id"], again["already_open"]) == (opened["channel"]["id"], True)
    with pytest.raises(SlackApiError) as error:
        await client.conversations_open(users="U_NOBODY")
    assert error.value.response["error"] == "user_not_found"
