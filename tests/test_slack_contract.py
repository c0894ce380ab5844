"""The bot against Slack's published contract: the app manifest, the Web API method descriptions,
the scopes it asks for, the entry points Slack will send, and the shape of the payloads tests send.

Reference data: tests/slack_api (see its README). The Web API methods the bot calls are read from
the modules of bot/slack/gateway/, the only code that calls Slack.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jsonschema
import pytest

from bot.slack import messages
from bot.slack.blocks import OPEN_MODAL_CALLBACK
from handlers.web import SLACK_PATH
from tests.conftest import ROOT, manifest
from tests.fake_slack import ONE_OF_RULES, load_method_specs
from tests.slack_requests import SignedSlack, open_form_values

SLACK_API = ROOT / "tests" / "slack_api"
GATEWAY = ROOT / "bot" / "slack" / "gateway"
FORM = "application/x-www-form-urlencoded"

# Web API calls Bolt makes on the bot's behalf, with the arguments it passes (besides token).
# AsyncApp's single-workspace authorization calls auth.test (no arguments) before the first listener
# runs, to learn the bot's user id.
BOLT_CALLS: dict[str, frozenset[str]] = {"auth.test": frozenset()}

# Scopes a manifest grants that no Web API method needs: `commands` is what lets the app own slash
# commands and shortcuts.
NON_METHOD_SCOPES = {"commands"}


# ------------------------------------------------------------------------------------------------
# What the bot calls
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayCall:
    method: str
    args: frozenset[str]
    line: str  # module:line


def gateway_modules() -> list[Path]:
    return sorted(GATEWAY.glob("*.py"))


def is_transport_call(node: ast.AST) -> bool:
    """``self._transport.call(...)``: how every part of the gateway reaches Slack."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "call"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "_transport"
        and isinstance(node.func.value.value, ast.Name)
        and node.func.value.value.id == "self"
    )


def gateway_calls() -> list[GatewayCall]:
    """Every ``self._transport.call("<method>", k=v, ...)`` in the modules of bot/slack/gateway/."""
    calls: list[GatewayCall] = []
    for module in gateway_modules():
        tree = ast.parse(module.read_text(), filename=str(module))
        for node in ast.walk(tree):
            if not is_transport_call(node):
                continue
            assert isinstance(node, ast.Call)
            where = f"{module.name}:{node.lineno}"
            assert len(node.args) == 1, f"{where}: pass the method name, then keyword arguments only"
            name = node.args[0]
            assert isinstance(name, ast.Constant) and isinstance(name.value, str), (
                f"{where}: the method name must be a string literal so that this test can read it"
            )
            assert all(k.arg is not None for k in node.keywords), f"{where}: **kwargs hides which arguments reach Slack; pass them by name"
            # slack_sdk names the app-level token `app_token`; it reaches Slack as the `token` argument.
            names = {"token" if k.arg == "app_token" else k.arg for k in node.keywords if k.arg}
            calls.append(GatewayCall(name.value, frozenset(names), where))
    return calls


def called_methods() -> dict[str, frozenset[str]]:
    """Method -> every argument any call passes (gateway and Bolt)."""
    methods: dict[str, frozenset[str]] = dict(BOLT_CALLS)
    for call in gateway_calls():
        methods[call.method] = methods.get(call.method, frozenset()) | call.args
    return methods


def bot_scopes_of(spec: dict[str, Any]) -> set[str]:
    if spec.get("no_scope_required"):
        return set()
    return set(spec.get("scope", {}).get("bot", []))


def test_the_gateway_is_read_completely():
    calls = gateway_calls()
    # A reader that silently finds nothing would make every check below pass vacuously.
    assert len(calls) >= 10, [c.method for c in calls]
    assert {"conversations.create", "chat.postMessage", "views.open", "files.completeUploadExternal"} <= {c.method for c in calls}
    # Each part of the gateway calls Slack, so a part this reader missed would show here.
    assert {call.line.split(":")[0] for call in calls} == {module.name for module in gateway_modules()}
    # Nothing in the gateway calls the client around the transport (which the checks above could not see).
    for module in gateway_modules():
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                assert not (isinstance(target, ast.Attribute) and target.attr == "_client"), (
                    f"{module.name}:{node.lineno} calls self._client.{node.func.attr} directly; go through self._transport.call"
                )


@pytest.mark.parametrize("call", gateway_calls(), ids=lambda c: f"{c.method}@{c.line}")
def test_each_gateway_call_matches_the_method_description(call: GatewayCall):
    specs = load_method_specs()
    assert call.method in specs, f"no description tests/slack_api/methods/{call.method}.json (line {call.line})"
    args = specs[call.method]["args"]
    allowed = set(args.get("properties", {}))
    unknown = call.args - allowed
    assert not unknown, f"line {call.line}: {call.method} takes no {sorted(unknown)}; it takes {sorted(allowed)}"
    required = set(args.get("required", [])) - {"token"}
    missing = required - call.args
    assert not missing, f"line {call.line}: {call.method} requires {sorted(missing)}"
    one_of = ONE_OF_RULES.get(call.method)
    if one_of:
        assert call.args & set(one_of), f"line {call.line}: {call.method} needs one of {one_of}"


@pytest.mark.parametrize("method", sorted(BOLT_CALLS))
def test_calls_bolt_makes_match_the_method_description(method: str):
    specs = load_method_specs()
    assert method in specs, f"no description tests/slack_api/methods/{method}.json"
    args = specs[method]["args"]
    assert BOLT_CALLS[method] <= set(args.get("properties", {}))
    assert set(args.get("required", [])) - {"token"} <= BOLT_CALLS[method]


# ------------------------------------------------------------------------------------------------
# The manifest
# ------------------------------------------------------------------------------------------------


def test_manifest_validates_against_slacks_schema():
    schema = json.loads((SLACK_API / "manifest.schema.1.0.0.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors)


def test_manifest_sends_every_request_to_the_bots_endpoint():
    m = manifest()
    urls = [c["url"] for c in m["features"].get("slash_commands", [])]
    if m["features"].get("shortcuts"):
        assert m["settings"]["interactivity"]["is_enabled"] is True
        urls.append(m["settings"]["interactivity"]["request_url"])
    assert urls
    for url in urls:
        assert url.endswith(SLACK_PATH), url


def test_manifest_grants_a_scope_for_every_method_the_bot_calls():
    specs = load_method_specs()
    granted = set(manifest()["oauth_config"]["scopes"]["bot"])
    for method in called_methods():
        needs = bot_scopes_of(specs[method])
        if needs:
            assert granted & needs, f"{method} needs one of {sorted(needs)}; manifest.yml grants {sorted(granted)}"


def test_manifest_grants_the_user_scopes_and_redirect_url_sign_in_with_slack_needs():
    """The methods called with a person's token (Sign in with Slack) need user scopes, not bot
    scopes; the manifest grants those and no more, and lists where Slack sends the browser back."""
    specs = load_method_specs()
    oauth = manifest()["oauth_config"]
    user_scopes = set(oauth["scopes"].get("user", []))
    user_methods = [m for m in called_methods() if specs[m].get("user_scope_only")]
    assert user_methods == ["openid.connect.userInfo"], user_methods
    for method in user_methods:
        assert user_scopes & set(specs[method]["scope"]["user"]), f"{method} needs one of {specs[method]['scope']['user']}"
    # openid is what userInfo needs; email and profile are what Sign in with Slack's authorize page asks for.
    assert user_scopes == {"openid", "email", "profile"}
    assert [url.endswith("/dashboard/callback") for url in oauth["redirect_urls"]] == [True]


# "Any one of" in a method's description is per kind of channel: conversations.info needs
# channels:read for a public channel and groups:read for a private one. A pair like that is one
# need, so neither half makes the other redundant.
# Public and private channels need different scopes for the same method (private war rooms).
_ONE_NEED_PER_CHANNEL_KIND = (
    frozenset({"channels:read", "groups:read"}),
    frozenset({"channels:manage", "groups:write"}),
    # Public war rooms, private war rooms, and the direct messages of a handover.
    frozenset({"channels:history", "groups:history", "im:history"}),
)
SAME_NEED_FOR_ANOTHER_CHANNEL_KIND = {scope: kinds - {scope} for kinds in _ONE_NEED_PER_CHANNEL_KIND for scope in kinds}


def test_manifest_grants_no_scope_the_bot_does_not_need():
    """Each scope is the only granted one that some called method accepts: drop it and a call fails."""
    specs = load_method_specs()
    granted = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert "commands" in granted, "slash commands and shortcuts need the commands scope"
    needs = {method: bot_scopes_of(specs[method]) for method in called_methods()}
    for scope in sorted(granted - NON_METHOD_SCOPES):
        others = granted - {scope} - SAME_NEED_FOR_ANOTHER_CHANNEL_KIND.get(scope, frozenset())
        needed_by = [m for m, accepted in needs.items() if scope in accepted and not (others & accepted)]
        accepted_by = [m for m, accepted in needs.items() if scope in accepted]
        assert needed_by, f"manifest.yml grants {scope}, but no method the bot calls needs it" + (
            f" ({accepted_by} are covered by other granted scopes)" if accepted_by else ""
        )


# ------------------------------------------------------------------------------------------------
# Every entry point reaches a listener
# ------------------------------------------------------------------------------------------------


@dataclass
class Interactive:
    action_id: str
    block_id: str | None
    element: dict[str, Any]
    # where Slack would send the click from: a message (channel, ts, message) or a view
    channel: str | None = None
    message: dict[str, Any] | None = None
    view: dict[str, Any] | None = None


def interactive_elements(blocks: Any) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(block_id, element) of every element that sends block_actions when used.

    Elements of `input` blocks do not, unless the block sets dispatch_action: their values reach
    the app in the view_submission's state instead.
    """
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        candidates: list[Any] = []
        if kind == "actions":
            candidates = block.get("elements", [])
        elif kind == "section" and "accessory" in block:
            candidates = [block["accessory"]]
        elif kind == "input" and block.get("dispatch_action"):
            candidates = [block.get("element")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id"):
                yield block.get("block_id"), element


def collect_interactives(fake) -> dict[str, Interactive]:
    """action_id -> where it was last seen, over every message and view the bot put in front of people."""
    found: dict[str, Interactive] = {}
    # Messages as they stand in their channels (they carry their ts, needed to click them).
    for channel in fake.channels.values():
        for message in channel.messages + channel.ephemerals:
            for block_id, element in interactive_elements(message.get("blocks")):
                found[element["action_id"]] = Interactive(element["action_id"], block_id, element, channel=channel.id, message=message)

    def unless_seen(blocks: Any, **where: Any) -> None:
        for block_id, element in interactive_elements(blocks):
            found.setdefault(element["action_id"], Interactive(element["action_id"], block_id, element, **where))

    # Every version the bot sent, including ones since replaced by chat.update.
    for call in fake.calls:
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral") and call.ok:
            message = {"type": "message", "ts": str(call.args.get("ts", "1700000000.000100")), "text": str(call.args.get("text", ""))}
            unless_seen(call.args.get("blocks"), channel=str(call.args.get("channel")), message=message)
    # Answers through response_url.
    for response in fake.responses:
        message = {"type": "message", "ts": "1700000000.000100", "text": response.get("text", "")}
        unless_seen(response.get("blocks"), channel="C_GENERAL", message=message)
    # Views opened with views.open.
    for view in opened_views(fake):
        unless_seen(view.get("blocks"), view=view)
    return found


def opened_views(fake) -> list[dict[str, Any]]:
    """The view objects Slack returned for the bot's views.open calls."""
    callbacks = [c.args["view"].get("callback_id") for c in fake.calls_to("views.open") if c.ok]
    views = [v for v in fake.views.values() if v["type"] == "modal"]
    assert len(views) == len(callbacks)
    return views


def block_action(slack: SignedSlack, item: Interactive) -> dict[str, Any]:
    element = item.element
    value = element.get("value") or ""
    if item.view is not None:
        payload = slack.block_action_payload(element["action_id"], value, channel="C_UNUSED", message_ts="0.0")
        for key in ("channel", "message"):
            payload.pop(key)
        payload["container"] = {"type": "view", "view_id": item.view["id"]}
        payload["view"] = item.view
    else:
        assert item.message is not None and item.channel is not None
        payload = slack.block_action_payload(
            element["action_id"], value, channel=item.channel, message_ts=item.message["ts"], message=item.message
        )
    action = payload["actions"][0]
    action["type"] = element["type"]
    action["block_id"] = item.block_id or "b0"
    if "text" in element:
        action["text"] = element["text"]
    if element["type"] != "button":
        action.pop("value", None)
    return payload


async def test_every_entry_point_reaches_a_listener(bot, fake_slack):
    m = manifest()
    answered: list[str] = []

    # Slash commands.
    commands = m["features"].get("slash_commands", [])
    assert commands
    for command in commands:
        payload = bot.slack.command_payload("help")
        payload["command"] = command["command"]
        response = await bot.slack.post(urlencode(payload), FORM)
        assert response.status != 404, f"no listener for {command['command']}"
        # Bolt sends an ack with only text as a plain-text body; Slack shows it to the user alone.
        assert response.status == 200 and response.text == messages.HELP
        answered.append(command["command"])

    # Shortcuts, on a message in an ordinary channel (not a war room).
    channel = fake_slack.add_channel("random-chat", members={"U_ALICE", "U_BOB"})
    message = {"type": "message", "user": "U_BOB", "text": "the checkout is failing", "ts": f"{time.time():.6f}"}
    fake_slack.channels[channel].messages.append(message)
    shortcuts = m["features"].get("shortcuts", [])
    assert shortcuts
    for shortcut in shortcuts:
        assert shortcut["type"] == "message", f"add a payload builder for {shortcut['type']} shortcuts"
        response = await bot.slack.message_shortcut(shortcut["callback_id"], channel=channel, message=message, channel_name="random-chat")
        assert response.status != 404, f"no listener for shortcut {shortcut['callback_id']}"
        assert response.status == 200
        answered.append(shortcut["callback_id"])
    await bot.settle()
    assert any(r.get("text") == messages.NOT_IN_WAR_ROOM_FOR_NOTE for r in fake_slack.responses)

    # Everything the bot posts when it opens an incident, and the form it opens.
    assert (await bot.slack.command("open Checkout returns 500s")).status == 200
    assert (await bot.slack.command("open")).status == 200
    await bot.settle()
    assert fake_slack.calls_to("views.open"), "the form was not opened"

    # Use each interactive element; what that posts may hold new ones (bounded).
    clicked: set[str] = set()
    for _ in range(10):
        pending = {a: i for a, i in collect_interactives(fake_slack).items() if a not in clicked}
        if not pending:
            break
        for action_id in sorted(pending):
            response = await bot.slack.interactive(block_action(bot.slack, pending[action_id]))
            assert response.status != 404, f"no listener for action_id {action_id!r}"
            assert response.status == 200
            clicked.add(action_id)
            await bot.settle()
    else:
        pytest.fail(f"interactive elements kept appearing: {sorted(clicked)}")
    assert {"stamp_phase_diagnosed", "stamp_phase_mitigated", "stamp_phase_verified"} <= clicked
    answered += sorted(clicked)

    # Modal submissions of every view the bot opened.
    views = opened_views(fake_slack)
    assert views
    for view in views:
        values = open_form_values(title="Login fails") if view["callback_id"] == OPEN_MODAL_CALLBACK else {}
        response = await bot.slack.view_submission(view, values)
        assert response.status != 404, f"no listener for view callback_id {view['callback_id']!r}"
        assert response.status == 200
        answered.append(view["callback_id"])
    await bot.settle()

    # Every method the bot called at run time is one the checks above know about.
    assert "auth.test" in {c.method for c in fake_slack.calls}, "Bolt no longer calls auth.test: update BOLT_CALLS"
    assert {c.method for c in fake_slack.calls} <= set(called_methods())
    assert len(answered) >= 6, answered


async def test_requests_no_listener_takes_are_answered_404(bot, fake_slack):
    """The 404 checks above can fail: Bolt answers 404 "unhandled request" when no listener matches."""
    channel = fake_slack.add_channel("random-chat", members={"U_ALICE"})
    click = bot.slack.block_action_payload("no_such_action", "1", channel=channel, message_ts="1700000000.000100")
    response = await bot.slack.interactive(click)
    assert response.status == 404

    command = bot.slack.command_payload("help")
    command["command"] = "/no-such-command"
    assert (await bot.slack.post(urlencode(command), FORM)).status == 404

    message = {"type": "message", "user": "U_ALICE", "text": "hi", "ts": "1700000000.000200"}
    response = await bot.slack.message_shortcut("no_such_shortcut", channel=channel, message=message)
    assert response.status == 404

    view = {"id": "V0NOPE", "callback_id": "no_such_view", "type": "modal", "private_metadata": ""}
    assert (await bot.slack.view_submission(view, {})).status == 404
    await bot.settle()


# ------------------------------------------------------------------------------------------------
# The payloads tests send have the keys Slack's have
# ------------------------------------------------------------------------------------------------

# Keys of the samples that ordinary payloads for this bot do not carry, each with the reason.
OPTIONAL_KEYS: dict[str, dict[str, str]] = {
    "BlockActionPayload": {
        "view": "only when the element is in a modal or App Home; the bot's buttons are on messages",
        "app_unfurl": "only for elements in an app's link unfurl",
        "bot_access_token": "only for interactions with messages a workflow function (Slack's automation platform) posted",
        "function_data": "only for interactions with messages a workflow function posted",
        "interactivity": "only for interactions with messages a workflow function posted",
        "container.attachment_id": "only for elements in legacy attachments (container type message_attachment)",
        "container.view_id": "only when the container is a view (type view)",
        "container.text": "not in message containers, which carry type, message_ts, channel_id and is_ephemeral",
        "container.is_app_unfurl": "only for elements in an app's link unfurl",
        "container.app_unfurl_url": "only for elements in an app's link unfurl",
        "container.thread_ts": "only when the message is a thread reply; the control message is not",
    },
    "ViewSubmissionPayload": {
        "bot_access_token": "only for views opened by a workflow function",
        "function_data": "only for views opened by a workflow function",
        "interactivity": "only for views opened by a workflow function",
    },
    "SlashCommandPayload": {},
    "MessageShortcutPayload": {},
}


def sample(name: str) -> dict[str, Any]:
    return json.loads((SLACK_API / "payloads" / f"{name}.json").read_text())


def missing_keys(name: str, built: dict[str, Any], nested: tuple[str, ...]) -> list[str]:
    expected = sample(name)
    missing = [k for k in expected if k not in built]
    for key in nested:
        if isinstance(expected.get(key), dict) and isinstance(built.get(key), dict):
            missing += [f"{key}.{k}" for k in expected[key] if k not in built[key]]
    return sorted(set(missing) - set(OPTIONAL_KEYS[name]))


def test_optional_keys_are_in_the_samples():
    """An exclusion that names a key the sample does not have is a typo that hides nothing."""
    for name, keys in OPTIONAL_KEYS.items():
        expected = sample(name)
        for key in keys:
            parent, _, child = key.partition(".")
            assert parent in expected and (not child or child in expected[parent]), f"{name}: {key}"


async def test_payload_builders_carry_every_key_of_slacks_samples(bot, fake_slack):
    slack = bot.slack
    nested = ("user", "container", "view")

    command = slack.command_payload("help")
    assert missing_keys("SlashCommandPayload", command, nested) == []

    click = slack.block_action_payload("stamp_phase_diagnosed", "1", channel="C0001", message_ts="1700000000.000100")
    assert missing_keys("BlockActionPayload", click, nested) == []

    channel = fake_slack.add_channel("random-chat", members={"U_ALICE"})
    message = {"type": "message", "user": "U_ALICE", "text": "hi", "ts": "1700000000.000200"}
    shortcut = slack.message_shortcut_payload("add_to_incident_timeline", channel=channel, message=message)
    assert missing_keys("MessageShortcutPayload", shortcut, nested) == []

    # A view_submission wraps the view Slack returned for the bot's views.open.
    assert (await slack.command("open")).status == 200
    await bot.settle()
    [view] = opened_views(fake_slack)
    submission = slack.view_submission_payload(view, open_form_values())
    assert missing_keys("ViewSubmissionPayload", submission, nested) == []
