"""config.yaml + environment -> one frozen, typed Config.

Every setting can be overridden from the environment as ``SCHEDULER__SECTION__KEY=value`` (the value is
read as YAML, so ``8081``, ``true`` and ``[a, b]`` work). ``DATABASE_URL`` selects an external PostgreSQL;
secrets (the Twilio auth token, the OIDC client secret) come only from the environment.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

ENV_PREFIX = "SCHEDULER__"


class ConfigError(ValueError):
    """A setting is missing or has the wrong type; the message names the key."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://localhost:8080"
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str | None = None
    embedded_dir: str = ".data/postgres"
    pool_max: int = 10
    command_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class JobsConfig:
    enabled: bool = True
    outbox_interval_seconds: float = 2.0
    outbox_batch: int = 50
    outbox_lease_seconds: int = 60
    sweep_interval_seconds: float = 30.0
    deadlines_interval_seconds: float = 300.0
    retention_interval_seconds: float = 3600.0
    rate_limit_cleanup_interval_seconds: float = 300.0
    sign_in_cleanup_interval_seconds: float = 3600.0
    expiry_interval_seconds: float = 300.0
    passed_proposals_interval_seconds: float = 120.0
    escalation_summary_interval_seconds: float = 600.0
    webhooks_interval_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    from_number: str = ""
    api_base: str | None = None


@dataclass(frozen=True, slots=True)
class SmsConfig:
    provider: Literal["console", "twilio"] = "console"
    console_path: str = ".data/sms-outbox.jsonl"
    twilio: TwilioConfig = TwilioConfig()
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    allowed_countries: tuple[str, ...] = ("DE",)   # ISO 3166 codes of the client numbers the offices accept
    daily_budget_per_site: int = 2000              # SMS per site and local day; the rest wait for the next day


@dataclass(frozen=True, slots=True)
class EmailConfig:
    enabled: bool = False
    smtp_host: str = "localhost"
    smtp_port: int = 25
    sender: str = "termine@jobcenter.example"


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    session_idle_minutes: int = 30
    session_max_hours: int = 10
    cookie_secure: bool = False
    public_rate_limit: str = "30/minute"
    lookup_rate_limit: str = "10/minute"
    kiosk_rate_limit: str = "120/minute"
    global_rate_limit: str = "300/second"
    phone_rate_limit: str = "10/hour"      # submissions per phone number (stops one number being flooded with SMS)
    signin_rate_limit: str = "30/minute"   # staff sign-in attempts per address (failures have their own limits)
    ops_allowed_networks: tuple[str, ...] = ()   # CIDRs that may read /metrics and /api/docs; empty: everyone
    webhook_private_networks: tuple[str, ...] = ()   # private CIDRs outgoing webhooks may reach (else public only)

    def __post_init__(self) -> None:
        for key in ("ops_allowed_networks", "webhook_private_networks"):
            for cidr in getattr(self, key):
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ConfigError(f"security.{key}: {cidr!r} is not a network (e.g. 10.0.0.0/8)") from None


@dataclass(frozen=True, slots=True)
class OidcConfig:
    enabled: bool = False
    issuer: str = ""                       # discovery at <issuer>/.well-known/openid-configuration
    client_id: str = ""
    client_secret: str = field(default="", repr=False)   # only from SCHEDULER_OIDC_CLIENT_SECRET
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"           # matched against staff.username on first sign-in
    required_claim: str = "groups"                      # linking by username needs this claim ...
    required_value: str = ""                            # ... to be or contain this value (empty: never)
    button_label: str = "Sign in with single sign-on"    # a msgid of staff.po (or any text)
    http_timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    expiry_grace_workdays: int = 3   # an undecided request expires this many working days after its deadline
    expired_list_days: int = 7       # how long staff see an expired request in the list of expired requests


@dataclass(frozen=True, slots=True)
class EscalationConfig:
    summary_from: time = time(7, 0)   # site-local time from which the team leads' daily summary goes out
    # workdays: on the site's working days (its calendar: no weekends, no public holidays); every_day: every day
    summary_days: Literal["workdays", "every_day"] = "workdays"


@dataclass(frozen=True, slots=True)
class FreedSlotsConfig:
    sms_offer_max: int = 3   # waiting clients a freed time is offered to by SMS at once (0: proposals only)

    def __post_init__(self) -> None:
        if not 0 <= self.sms_offer_max <= 20:
            raise ConfigError("freed_slots.sms_offer_max must be between 0 and 20")


@dataclass(frozen=True, slots=True)
class InvitationsConfig:
    presumed_receipt_days: int = 4   # a posted letter counts as received this many days after posting (§ 37 SGB X)

    def __post_init__(self) -> None:
        if not 1 <= self.presumed_receipt_days <= 14:
            raise ConfigError("invitations.presumed_receipt_days must be between 1 and 14")


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    link_token_days_after_case: int = 30   # a client's link stops working this many days after its case ended


@dataclass(frozen=True, slots=True)
class PhoneConfig:
    prompts_dir: str | None = None   # recorded IVR prompts: <dir>/<lang>/<key>.wav|.mp3 (docs/phone-prompts.md)
    prompts_url: str | None = None   # where Twilio fetches them; default <public_base_url>/phone-prompts


@dataclass(frozen=True, slots=True)
class SitesConfig:
    choose_by: str = "host"   # host: by the Host header (site_hosts); path: also /s/<site code>/… and its cookie

    def __post_init__(self) -> None:
        if self.choose_by not in ("host", "path"):
            raise ConfigError("sites.choose_by must be host or path")


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"
    json: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    jobs: JobsConfig = JobsConfig()
    sms: SmsConfig = SmsConfig()
    email: EmailConfig = EmailConfig()
    security: SecurityConfig = SecurityConfig()
    oidc: OidcConfig = OidcConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    escalation: EscalationConfig = EscalationConfig()
    freed_slots: FreedSlotsConfig = FreedSlotsConfig()
    invitations: InvitationsConfig = InvitationsConfig()
    phone: PhoneConfig = PhoneConfig()
    sites: SitesConfig = SitesConfig()
    logging: LoggingConfig = LoggingConfig()
    reminder_offsets_minutes: tuple[int, ...] = (24 * 60, 120)
    default_site: str = "musterstadt"

    @property
    def reminder_offsets(self) -> tuple[timedelta, ...]:
        """How long before an appointment its reminders are sent."""
        return tuple(timedelta(minutes=m) for m in self.reminder_offsets_minutes)


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read config.yaml (if given), apply environment overrides, and return a validated Config."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        raw = loaded
        if isinstance(raw.get("oidc"), dict) and "client_secret" in raw["oidc"]:
            raise ConfigError(f"{path}: oidc.client_secret belongs in the environment (SCHEDULER_OIDC_CLIENT_SECRET)")
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            keys = name[len(ENV_PREFIX):].lower().split("__")
            _set_path(raw, keys, yaml.safe_load(value) if value else value)
    if env.get("DATABASE_URL"):
        _set_path(raw, ["database", "url"], env["DATABASE_URL"])
    if env.get("SCHEDULER_TWILIO_AUTH_TOKEN"):
        _set_path(raw, ["sms", "twilio", "auth_token"], env["SCHEDULER_TWILIO_AUTH_TOKEN"])
    if env.get("SCHEDULER_OIDC_CLIENT_SECRET"):
        _set_path(raw, ["oidc", "client_secret"], env["SCHEDULER_OIDC_CLIENT_SECRET"])
    config = _build(Config, raw, "")
    _check(config)
    return config


def _check(config: Config) -> None:
    """Settings that only make sense together."""
    if config.sms.provider == "twilio" and not (config.sms.twilio.account_sid and config.sms.twilio.auth_token):
        raise ConfigError("sms.twilio.account_sid and SCHEDULER_TWILIO_AUTH_TOKEN are required for sms.provider twilio")
    if config.oidc.enabled and not (config.oidc.issuer and config.oidc.client_id):
        raise ConfigError("oidc.issuer and oidc.client_id are required when oidc.enabled is true")
    if config.jobs.outbox_lease_seconds < 30:
        raise ConfigError("jobs.outbox_lease_seconds must be at least 30: no send starts in the last 20 s of a lease")
    if config.oidc.enabled and "openid" not in config.oidc.scopes.split():
        raise ConfigError("oidc.scopes must contain openid")
    if not config.sms.allowed_countries or not all(re.fullmatch(r"[A-Z]{2}", c) for c in config.sms.allowed_countries):
        raise ConfigError("sms.allowed_countries must list upper-case ISO country codes, for example [DE]")
    if config.sms.daily_budget_per_site < 1:
        raise ConfigError("sms.daily_budget_per_site must be at least 1")
    if not 0 <= config.privacy.link_token_days_after_case <= 3650:
        raise ConfigError("privacy.link_token_days_after_case must be between 0 and 3650")
    if not 0 <= config.lifecycle.expiry_grace_workdays <= 60:
        raise ConfigError("lifecycle.expiry_grace_workdays must be between 0 and 60")
    if not 1 <= config.lifecycle.expired_list_days <= 90:
        raise ConfigError("lifecycle.expired_list_days must be between 1 and 90")


def _set_path(raw: dict[str, Any], keys: list[str], value: object) -> None:
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _build(cls: type, raw: object, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{_join(prefix, unknown[0])}: unknown setting (known: {', '.join(sorted(names))})")
    values = {name: _convert(hints[name], raw[name], _join(prefix, name)) for name in raw}
    return cls(**values)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _convert(hint: Any, value: object, key: str) -> Any:  # noqa: C901 (one branch per setting type)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: must be one of {', '.join(map(str, args))} (got {value!r})")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is time:
        if isinstance(value, int):  # YAML reads 21:00 as sexagesimal minutes
            return time(value // 60, value % 60)
        try:
            return time.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{key}: expected a time like 21:00 (got {value!r})") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, float, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type {hint!r}")
