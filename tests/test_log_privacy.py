"""No client link token, feed token or typed username ends up in logs or the console SMS file."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from scheduler import logs
from scheduler.app import create_app
from scheduler.config import Config
from scheduler.notify.sms import ConsoleSms
from scheduler.redact import LinkTokenFilter, mask_link_tokens

TOKEN = "Zq3xV8kP1mN0bR7tY4wL9cS2dF6gH5jK"


def test_links_and_feeds_are_masked() -> None:
    text = (f"Ihr Termin: https://termine.example/r/{TOKEN} | /api/public/{TOKEN}/confirm | "
            f"/staff/feed/{TOKEN}.ics | /r/short")
    masked = mask_link_tokens(text)
    assert TOKEN not in masked
    assert "https://termine.example/r/… | /api/public/…/confirm | /staff/feed/….ics | /r/short" in masked


async def test_console_sms_file_masks_link_tokens(tmp_path: Path) -> None:
    path = tmp_path / "sms.jsonl"
    await ConsoleSms(path).send(to="+4915123456701", body=f"Termin bestätigen: https://x.example/r/{TOKEN}",
                                status_callback=None, idempotency_key="k-1")
    line = json.loads(path.read_text(encoding="utf-8"))
    assert TOKEN not in path.read_text(encoding="utf-8")
    assert line["body"] == "Termin bestätigen: https://x.example/r/…"


def test_log_filter_masks_message_and_fields() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "opened %s", (f"/r/{TOKEN}",), None)
    record.path = f"/staff/feed/{TOKEN}.ics"
    assert LinkTokenFilter().filter(record)
    assert TOKEN not in record.getMessage() and TOKEN not in record.path


async def test_an_error_on_a_link_logs_no_token(aiohttp_client, config: Config, pool: object,  # type: ignore[no-untyped-def]
                                                caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(config)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    app.router.add_get("/r/{token}/broken", broken)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.INFO):
        assert (await client.get(f"/r/{TOKEN}/broken")).status == 500
    ours = [r for r in caplog.records if r.name.startswith("scheduler")]
    assert ours, "the error was logged"
    assert TOKEN not in " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)


@pytest.fixture
def configured_logs() -> Iterator[io.StringIO]:
    """The service's own log set-up (logs.configure), writing into a buffer; the test's set-up comes back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("aiohttp.access").level)
    logs.configure("INFO", json=True)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)  # an operator who switches the access log on
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:], _, _ = saved
    root.setLevel(saved[1])
    logging.getLogger("aiohttp.access").setLevel(saved[2])


async def test_access_log_and_error_log_lines_carry_no_token(aiohttp_client, config: Config, pool: object,  # type: ignore[no-untyped-def]
                                                             configured_logs: io.StringIO) -> None:
    client = await aiohttp_client(create_app(config))
    assert (await client.get(f"/r/{TOKEN}")).status == 404
    assert (await client.get(f"/staff/feed/{TOKEN}.ics")).status == 404
    written = configured_logs.getvalue()
    lines = [json.loads(line)["event"] for line in written.splitlines()]
    assert any("GET /r/… " in line for line in lines) and any("/staff/feed/….ics" in line for line in lines), lines
    assert TOKEN not in written


async def test_failed_sign_in_does_not_log_the_typed_username(client, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    typed = "hunter2-typed-into-the-wrong-field"
    with caplog.at_level(logging.INFO):
        for _ in range(6):  # the sixth try is throttled, which is logged as well
            await client.post("/api/staff/session", json={"username": typed, "password": "x"})
    assert any("sign-in" in r.getMessage() for r in caplog.records)
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert typed not in logged
