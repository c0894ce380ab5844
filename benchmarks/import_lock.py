"""How long another process's write waits while ``incident-bot import`` stores a large file on SQLite.

SQLite has one write lock per file. A bot running on that file records each click in a short write
transaction; while an import holds the lock the click waits, and past its ack's bound (2.5 s) the
person is told it was not recorded. This benchmark imports ``--count`` incidents into a migrated
temporary SQLite file while another process (a writer, as the bot's click is: ``BEGIN IMMEDIATE``
then ``COMMIT``, with SQLite's own busy handler, every 10 ms) records how long each of its writes
waited for the lock. Two ways of storing, alternated ``--rounds`` times on new incidents each:

- *one transaction*: the whole file in one write transaction, as the import stored it before;
- *batches*: the import as it is (``INSERT_BATCH`` incidents a transaction, ``BATCH_GAP`` between).

Printed per way: the import's wall time and the other writer's longest and p99 wait, and the
ratio of the longest waits (one transaction / batches).

    .venv/bin/python -m benchmarks.import_lock [--count 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.integrations import importing
from bot.integrations.importing import Importer, parse_file
from storage.db import Database
from storage.migrate import upgrade_to_head

# The other writer: a process of its own, as the bot is to `incident-bot import`. It writes every
# 10 ms until its standard input closes, then prints each wait in milliseconds.
WRITER = """
import select, sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
waits = []
while not select.select([sys.stdin], [], [], 0.01)[0]:
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("COMMIT")
    waits.append((time.perf_counter() - started) * 1000)
print(" ".join(f"{w:.3f}" for w in waits))
"""

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def csv_of(count: int, prefix: str) -> bytes:
    lines = ["id,title,severity,service,started_at,detected_at,diagnosed_at,mitigated_at,verified_at"]
    for i in range(count):
        day = f"2025-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d}"
        lines.append(
            f"{prefix}{i},Imported {i},P2,payments-api,{day}T09:00:00Z,{day}T09:05:00Z,{day}T09:20:00Z,{day}T09:40:00Z,{day}T10:00:00Z"
        )
    return ("\n".join(lines) + "\n").encode()


async def one_import(database: Database, path: Path, data: bytes, *, whole: bool) -> tuple[float, list[float]]:
    """The import's wall time, and each wait of the other writer while it ran."""
    parsed = parse_file(data, "csv", now=NOW)
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.sleep(0.3)  # the writer is writing before the import starts
        batch, gap = importing.INSERT_BATCH, importing.BATCH_GAP
        if whole:
            importing.INSERT_BATCH, importing.BATCH_GAP = len(parsed.incidents) + 1, 0.0
        started = time.perf_counter()
        try:
            report = await Importer(database, lambda: NOW).run(parsed, origin="benchmark.csv")
        finally:
            importing.INSERT_BATCH, importing.BATCH_GAP = batch, gap
        seconds = time.perf_counter() - started
        if report.new != len(parsed.incidents):
            raise SystemExit(f"the import stored {report.new} of {len(parsed.incidents)}")
    finally:
        out, _ = await asyncio.wait_for(writer.communicate(b""), 120)  # its input closed: it stops
    return seconds, [float(w) for w in out.split()]


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def measure(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="incident-bot-import-lock-") as tmp:
        path = Path(tmp) / "incidents.db"
        database = Database(f"sqlite:///{path}")
        try:
            await upgrade_to_head(database)
            results: dict[str, list[tuple[float, list[float]]]] = {"one transaction": [], "batches": []}
            for n in range(rounds):
                for way in ("one transaction", "batches"):
                    data = csv_of(count, f"{way[0]}{n}-")
                    results[way].append(await one_import(database, path, data, whole=way == "one transaction"))
        finally:
            await database.dispose()
    print(f"import of {count:,} incidents into SQLite while another process writes every 10 ms, {rounds} round(s) each")
    longest: dict[str, float] = {}
    for way, runs in results.items():
        waits = [w for _, ws in runs for w in ws]
        longest[way] = max(max(ws) for _, ws in runs)
        walls = ", ".join(f"{seconds:.2f}" for seconds, _ in runs)
        print(
            f"  {way:16} import {walls} s; the other writer's longest wait {longest[way]:.0f} ms, p99 {p99(waits):.1f} ms ({len(waits)} writes)"
        )
    print(f"longest wait, one transaction / batches: {longest['one transaction'] / longest['batches']:.1f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000, help="incidents per import (default 20000)")
    parser.add_argument("--rounds", type=int, default=2, help="imports of each way, alternated (default 2)")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 200000 or not 1 <= args.rounds <= 10:
        parser.error("--count takes 1 to 200000, --rounds 1 to 10")
    asyncio.run(measure(args.count, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
