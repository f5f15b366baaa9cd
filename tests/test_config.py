"""Configuration: defaults, environment overrides, and clear messages that name the key."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from scheduler.config import ConfigError, load_config


def test_project_config_yaml_loads(project_dir: Path) -> None:
    config = load_config(project_dir / "config.yaml", env={})
    assert config.server.port == 8080
    assert config.sms.quiet_start == time(21, 0)
    assert config.database.url is None


def test_environment_overrides_nested_settings(project_dir: Path) -> None:
    config = load_config(project_dir / "config.yaml", env={
        "SCHEDULER__SERVER__PORT": "9000", "SCHEDULER__JOBS__ENABLED": "false",
        "DATABASE_URL": "postgresql://x@db/y",
    })
    assert config.server.port == 9000
    assert config.jobs.enabled is False
    assert config.database.url == "postgresql://x@db/y"


@pytest.mark.parametrize(("text", "env", "names"), [
    ("server: {port: eighty}", {}, "server.port"),
    ("server: {prot: 80}", {}, "server.prot"),
    ("sms: {provider: pigeon}", {}, "sms.provider"),
    ("sms: {quiet_start: late}", {}, "sms.quiet_start"),
    ("", {"SCHEDULER__DATABASE__POOL_MAX": "many"}, "database.pool_max"),
    ("sms: {provider: twilio}", {}, "sms.twilio.account_sid"),
])
def test_bad_config_names_the_key(tmp_path: Path, text: str, env: dict[str, str], names: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        load_config(path, env=env)


def test_auth_token_is_never_printed() -> None:
    config = load_config(None, env={"SCHEDULER_TWILIO_AUTH_TOKEN": "s3cret", "SCHEDULER__SMS__TWILIO__ACCOUNT_SID": "AC1",
                                    "SCHEDULER__SMS__PROVIDER": "twilio"})
    assert config.sms.twilio.auth_token == "s3cret"
    assert "s3cret" not in repr(config)


def test_cli_reports_bad_config(tmp_path: Path, project_dir: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "config.yaml"
    path.write_text("server: {port: eighty}\n")
    done = subprocess.run([sys.executable, "-m", "scheduler", "--config", str(path), "migrate"],
                          cwd=project_dir, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "server.port" in done.stderr


def test_reminder_offsets_are_part_of_the_config() -> None:
    from datetime import timedelta

    config = load_config(None, env={"SCHEDULER__REMINDER_OFFSETS_MINUTES": "[60, 15]"})
    assert config.reminder_offsets == (timedelta(hours=1), timedelta(minutes=15))
