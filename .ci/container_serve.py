"""Start the built image's filesystem as a container runtime would, open one war room through it
and let it post the digest that is due.

Usage (from .ci/container-check): python .ci/container_serve.py IMAGE ROOTFS

IMAGE's configuration (podman image inspect) says how: its Env, WorkingDir, User, Entrypoint and
Cmd; ROOTFS is its exported filesystem. The process is chrooted there and runs as the image's user,
on the host's loopback, against a throwaway PostgreSQL and the suite's fake Slack. The team's
runbooks folder is baked in, as docs/deployment.md tells a team to do (the shipped example here).
Done when /healthz answers 200, a signed `/incident open` gets its war room, the control message
with its stamp buttons included, and the weekly digest that falls due at start is posted with its
chart, drawn by the image's user in the drawing process (serve's log says it started).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import BOT_TOKEN, ROOT, SIGNING_SECRET, started_fake_slack
from tests.fake_slack import RecordedCall
from tests.postgres_server import PostgresMissing, admin_postgres
from tests.serve_process import free_port, wait_healthy
from tests.slack_requests import SignedSlack
from tests.waiting import HANG_SECONDS


def image_config(image: str) -> dict:
    inspected = json.loads(subprocess.run(["podman", "image", "inspect", image], check=True, capture_output=True, text=True).stdout)
    return inspected[0]["Config"]


def user_ids(rootfs: Path, user: str) -> tuple[int, int]:
    """The image's USER (name or uid, with an optional group) as numbers, read from its own /etc/passwd."""
    name, _, group = user.partition(":")
    entries = [line.split(":") for line in (rootfs / "etc" / "passwd").read_text().splitlines() if line]
    entry = next((e for e in entries if name in (e[0], e[2])), None)
    uid = int(entry[2]) if entry else int(name)
    gid = int(group) if group.isdigit() else int(entry[3]) if entry else uid
    return uid, gid


def enter(rootfs: Path, workdir: str, uid: int, gid: int):
    def in_the_image() -> None:  # in the child, before exec: root is needed for chroot, then dropped
        os.chroot(rootfs)
        os.chdir(workdir or "/")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return in_the_image


def certificates(bundle: Path) -> set[str]:
    text = bundle.read_text(errors="replace") if bundle.is_file() else ""
    return {"".join(block.split()) for block in re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)}


def shipped_extras(config: dict, rootfs: Path) -> list[str]:
    """What the runtime image must not carry: a compiler, pip or its cache, the build's sources,
    the build-only index settings, or the host's CA bundle (mounted for the build's RUN steps only)."""
    found = [
        f"/{path.relative_to(rootfs)}"
        for pattern in ("usr/bin/gcc*", "usr/bin/cc", "opt/incident-bot/bin/pip*", "src", "dist")
        for path in rootfs.glob(pattern)
    ]
    found += [f"/{path.relative_to(rootfs)}" for path in rootfs.glob("**/.cache/pip")]
    found += [entry for entry in config.get("Env") or [] if entry.startswith(("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT"))]
    # The host's own CAs (this machine's HTTPS proxy) are those Debian's public set lacks.
    public = {cert for path in rootfs.glob("usr/share/ca-certificates/**/*.crt") for cert in certificates(path)}
    host_only = certificates(Path("/etc/ssl/certs/ca-certificates.crt")) - public
    if host_only & certificates(rootfs / "etc/ssl/certs/ca-certificates.crt"):
        found.append("the host's own CA certificates")
    return found


def is_control_message(call: RecordedCall) -> bool:
    text = json.dumps(call.args.get("blocks") or [])
    return "stamp_phase_" in text


async def main(image: str, rootfs: Path) -> int:
    config = image_config(image)
    if not config.get("User") or config["User"].split(":")[0] in ("0", "root"):
        print(f"container-check: the image runs as {config.get('User') or 'root'}, not as a non-root user", file=sys.stderr)
        return 1
    if extras := shipped_extras(config, rootfs):
        print(f"container-check: FAILED: the runtime image carries {extras}", file=sys.stderr)
        return 1
    uid, gid = user_ids(rootfs, config["User"])
    try:
        database_url, postgres = admin_postgres()
    except PostgresMissing as missing:
        print(f"container-check: FAILED: {missing}; .ci/run installs it", file=sys.stderr)
        return 1
    fake = await started_fake_slack()
    announce = fake.add_channel("incidents", members={"U_ALICE", "U_BOB"})
    digests = fake.add_channel("reliability-digest", members={"U_ALICE"})
    runbooks = rootfs / (config.get("WorkingDir") or "/").lstrip("/") / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks, dirs_exist_ok=True)
    # A digest due every Monday at 00:00 UTC: the last one is due at start, so serve posts it then.
    with (runbooks / "config.yml").open("a") as team_config:
        team_config.write(f'\ndigests:\n  - {{channel: {digests}, day: mon, time: "00:00", time_zone: UTC}}\n')
    port = free_port()
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.base_url,
        "DATABASE_URL": database_url,
        "INCIDENT_ANNOUNCE_CHANNEL": announce,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    env = dict(entry.split("=", 1) for entry in config.get("Env") or [])
    env.update(settings)
    argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    log_path = Path(os.environ.get("CONTAINER_LOG", rootfs.parent / "serve.log"))
    log = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        preexec_fn=enter(rootfs, config.get("WorkingDir") or "/", uid, gid),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy("the image's serve", url, lambda: process.returncode, timeout=HANG_SECONDS, log=log_path)
        print(f"{' '.join(argv)} (uid {uid}, in {config.get('WorkingDir')}): /healthz answers 200")
        slack = SignedSlack(f"{url}/slack/events", SIGNING_SECRET, response_url_factory=fake.response_url)
        response = await slack.command("open Checkout returns 500s sev:P2")
        if response.status != 200:
            print(f"container-check: FAILED: /incident open answered {response.status}: {response.body}", file=sys.stderr)
            return 1
        control = await fake.wait_for_call("chat.postMessage", is_control_message)
        answer = await fake.wait_for_response(lambda r: r.get("text", "").startswith("*INC-1* is open"))
        print(f"/incident open: war room {control.args['channel']} has its control message; the opener was told: {answer['text'][:60]!r}")
        chart = await fake.wait_for_call("files.completeUploadExternal", lambda call: call.args.get("channel_id") == digests)
        served = log_path.read_text(errors="replace")
        if "started the chart-drawing process" not in served or "charts are drawn on a thread" in served:
            print(
                f"container-check: FAILED: the digest's chart was not drawn in the drawing process\n--- serve's log:\n{served}",
                file=sys.stderr,
            )
            return 1
        print(f"the weekly digest: posted to {digests} with its chart ({chart.args.get('files')}), drawn in the drawing process")
        if fake.violations or fake.block_kit_problems:
            print(f"container-check: FAILED: calls that break Slack's rules: {fake.violations + fake.block_kit_problems}", file=sys.stderr)
            return 1
        return 0
    except (RuntimeError, TimeoutError, AssertionError) as error:
        served = log_path.read_text(errors="replace")
        print(f"container-check: FAILED: {error}" + ("" if served in str(error) else f"\n--- serve's log:\n{served}"), file=sys.stderr)
        return 1
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), HANG_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
        await fake.stop()
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], Path(sys.argv[2]))))
