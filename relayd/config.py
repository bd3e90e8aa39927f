"""Configuration: the TOML file of SPEC §4 as pydantic models, with env overrides."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from relayd.simcare.settings import CareSettings

DEFAULT_PATHS = (Path("/etc/relayd/relayd.toml"), Path("relayd.toml"))
ORG_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Section):
    host: str = "0.0.0.0"  # noqa: S104 - an appliance serves its LAN
    port: int = Field(8080, ge=0, le=65535)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls: Literal["off", "auto"] = "off"  # auto: HTTPS with the relay's own CA (relayd tls init)
    tls_names: list[str] = []  # extra DNS names / addresses for the certificate
    http_port: int = Field(0, ge=0, le=65535)  # with TLS: also plain HTTP here (0: off)
    http_host: str = "127.0.0.1"
    cors_origins: list[str] = []
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    drain_seconds: float = Field(10.0, ge=0)


class StorageConfig(_Section):
    path: str = "/var/lib/relayd/relayd.db"
    url: str = ""  # postgresql://user:password@host:port/db; empty: the SQLite file at `path`
    retention_days: int = Field(0, ge=0)  # 0 keeps everything

    @field_validator("url")
    @classmethod
    def _url_is_postgresql(cls, value: str) -> str:
        if value and not re.match(r"postgres(?:ql)?://", value):
            raise ValueError("use a postgresql:// URL, or leave it empty for the SQLite file")
        return value


class ModemConfig(CareSettings):  # SIM care keys (balance, expiry, keepalive) of this SIM
    name: str
    port: str
    baudrate: int = 115200
    pin: str = ""
    org: str = "default"
    delivery_reports: bool = True
    priority: int = 0
    rate_per_minute: float = Field(0, ge=0)  # 0: as fast as the modem takes them
    health_interval: float = Field(30.0, gt=0)
    daily_cap: int = Field(0, ge=0)  # messages a local day; 0: no cap (the API's value wins)
    monthly_cap: int = Field(0, ge=0)  # messages a calendar month; 0: no cap

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 32)")
        return value


class PhonesConfig(_Section):
    enabled: bool = True
    allow_new_orgs: bool = False
    result_timeout: float = Field(600.0, gt=0)
    priority: int = 0  # of every phone SIM, against the modems' with policy = "priority"
    daily_cap: int = Field(0, ge=0)  # of every phone SIM unless the API sets its own; 0: none
    monthly_cap: int = Field(0, ge=0)


class RoutingRule(_Section):
    prefix: str
    sim: str


class RoutingConfig(_Section):
    policy: Literal["round_robin", "priority", "least_busy"] = "round_robin"
    failover: bool = True
    sticky_replies: bool = True
    max_attempts: int = Field(3, ge=1)
    rule: list[RoutingRule] = []
    quarantine_after: int = Field(5, ge=0)  # failed sends in a row that quarantine a SIM; 0: off
    quarantine_rate: float = Field(0.0, ge=0, le=1)  # failed share of the window; 0: off
    quarantine_window: int = Field(20, ge=1)  # the last this many sends of a SIM
    quarantine_backoff: float = Field(60.0, gt=0)  # seconds before a probe; doubles on failure


class SmsConfig(_Section):
    default_region: str = "US"
    delivery_reports: bool = True
    max_parts: int = Field(10, ge=1, le=255)
    allow_short_codes: bool = False
    multipart_wait: float = Field(600.0, gt=0)
    default_ttl: int = Field(0, ge=0)  # seconds; 0 means messages never expire


class MdnsConfig(_Section):
    backend: Literal["auto", "zeroconf", "avahi", "off"] = "auto"
    interfaces: list[str] = []
    name: str = ""


class EmailConfig(_Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    smtp_host: str = ""
    smtp_port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    from_: str = Field("relayd@example.org", alias="from")
    forward_inbound_to: list[str] = []


class WebhookConfig(_Section):
    url: str
    events: list[str] = ["sms.received"]
    secret: str = ""
    org: str = "default"
    kind: Literal["standard", "homeassistant"] = "standard"
    headers: dict[str, str] = {}


class LimitsConfig(_Section):
    streams_per_key: int = Field(20, ge=1)  # open event streams per API key, org secret or device
    failed_auth_max: int = Field(10, ge=1)  # wrong passwords/secrets per client address ...
    failed_auth_window: float = Field(300.0, gt=0)  # ... in this many seconds, then 429
    sockets_per_key: int = Field(100, ge=1)  # open /websocket phone sockets per credential
    devices_per_org: int = Field(100, ge=1)  # phones (every kind) an org may have
    app_stream_queue: int = Field(100, ge=1)  # events waiting per app phone stream; oldest dropped


class FleetConfig(_Section):
    # auto: fleet mode when the store is shared (PostgreSQL); fleet: also on a SQLite file
    mode: Literal["auto", "single", "fleet"] = "auto"
    node_id: str = ""  # empty: generated once, kept in the state directory (node.id)
    heartbeat_seconds: float = Field(1.0, gt=0, le=60)  # a relay silent 3x this long is dead

    @field_validator("node_id")
    @classmethod
    def _node_id_is_simple(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 64)")
        return value
class OptoutConfig(_Section):
    enabled: bool = True  # false: stop/start words in inbound SMS change nothing
    stop_words: list[str] = ["STOP", "UNSUBSCRIBE"]
    start_words: list[str] = ["START"]
    stop_reply: str = Field("", max_length=1000)  # empty: no confirmation SMS
    start_reply: str = Field("", max_length=1000)


class DemoConfig(_Section):
    send_delay: float = Field(0.5, ge=0)
    report_delay: float = Field(1.0, ge=0)
    control_port: int = Field(0, ge=0, le=65535)
    rate_per_minute: float = Field(0, ge=0)  # the demo modem's [[modem]] rate_per_minute
    ussd_answers: dict[str, str] = {}  # the simulated network's answer per USSD code


class Config(_Section):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    modem: list[ModemConfig] = []
    phones: PhonesConfig = PhonesConfig()
    routing: RoutingConfig = RoutingConfig()
    sms: SmsConfig = SmsConfig()
    mdns: MdnsConfig = MdnsConfig()
    email: EmailConfig = EmailConfig()
    webhook: list[WebhookConfig] = []
    limits: LimitsConfig = LimitsConfig()
    fleet: FleetConfig = FleetConfig()
    optout: OptoutConfig = OptoutConfig()
    demo: DemoConfig = DemoConfig()

    @property
    def state_dir(self) -> Path:
        """Directory that holds the database and admin.key."""
        return Path(self.storage.path).parent


def find_config_file(explicit: str | None) -> Path | None:
    """The file to read: the one given, else the first default path that exists."""
    if explicit:
        return Path(explicit)
    for path in DEFAULT_PATHS:
        if path.exists():
            return path
    return None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment and validate; raise ConfigError on any problem."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    _apply_env(data, os.environ if env is None else env)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}[{key}] {first['msg']}") from None
    names = [m.name for m in config.modem]
    if len(names) != len(set(names)):
        raise ConfigError("[modem.name] modem names must be unique")
    for modem in config.modem:
        for key, reason in modem.problems():
            raise ConfigError(f"[modem.{key}] {modem.name}: {reason}")
    for org in [m.org for m in config.modem] + [w.org for w in config.webhook]:
        if not ORG_RE.match(org):
            raise ConfigError(f"[org] {org!r}: use letters, digits, '-' or '_'")
    return config


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """RELAYD_<SECTION>_<KEY>=value overrides one scalar of a table section."""
    sections = {
        name: field.annotation
        for name, field in Config.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }
    for var, raw in env.items():
        if not var.startswith("RELAYD_"):
            continue
        rest = var[len("RELAYD_") :].lower()
        for section, model in sections.items():
            if not rest.startswith(section + "_"):
                continue
            key = rest[len(section) + 1 :]
            fields = model.model_fields
            field_name = key if key in fields else f"{key}_" if f"{key}_" in fields else None
            if field_name is None:
                continue
            alias = fields[field_name].alias or field_name
            table = data.setdefault(section, {})
            if isinstance(table, dict):  # else validation names the section that is no table
                table[alias] = _parse_env_value(raw)
            break


def _parse_env_value(raw: str) -> Any:
    """Env values are TOML scalars or arrays when they parse as such, else strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
