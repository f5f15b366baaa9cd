"""Three service processes on one database: every message goes out exactly once, and the periodic
singletons do their work once."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests import factories
from tests.factories import SiteFacts
from tests.notify.conftest import queue_received

MESSAGES = 150


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_three_workers_send_each_message_once(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                                    config, project_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    for n in range(MESSAGES):
        await queue_received(conn, site, phone=f"+49151{66000000 + n:08d}", due_at=now - timedelta(seconds=1))
    overdue = await factories.create_request(conn, site)
    await conn.execute("UPDATE requests SET deadline_at = now() - interval '1 day' WHERE id = $1", overdue)
    sms_log = tmp_path / "sms.jsonl"
    env = {
        **os.environ, "DATABASE_URL": config.database.url, "SCHEDULER__SMS__CONSOLE_PATH": str(sms_log),
        "SCHEDULER__JOBS__OUTBOX_INTERVAL_SECONDS": "0.2", "SCHEDULER__JOBS__OUTBOX_BATCH": "10",
        # Quiet hours from 00:00 to 00:00 are none at all, whatever time the test runs.
        "SCHEDULER__SMS__QUIET_START": "00:00", "SCHEDULER__SMS__QUIET_END": "00:00",
        "SCHEDULER__LOGGING__LEVEL": "WARNING",
    }
    workers = [subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--role", "worker",
                                 "--port", str(_free_port())], cwd=project_dir, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(3)]
    try:
        for _ in range(300):
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")
            if pending == 0:
                break
            await asyncio.sleep(0.1)
        assert pending == 0
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)
    lines = [json.loads(line) for line in sms_log.read_text().splitlines()]
    keys = [line["key"] for line in lines]
    assert len(keys) == MESSAGES and len(set(keys)) == MESSAGES
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'sent'") == MESSAGES
    assert await conn.fetchval(
        "SELECT count(*) FROM audit_events WHERE action = 'request.overdue' AND subject_id = $1", overdue) == 1
