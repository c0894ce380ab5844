"""Settings from the environment and a .env file, with one clear line per mistake."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot.background import DEFAULT_CONCURRENCY
from bot.core.text_files import not_text
from bot.core.tiers import parse_span
from storage.db import DatabaseURLError, async_database_url

SLACK_API_URL_DEFAULT = "https://slack.com/api/"
PAGERDUTY_EVENTS_URL_DEFAULT = "https://events.pagerduty.com/v2/enqueue"
PAGERDUTY_API_URL_DEFAULT = "https://api.pagerduty.com"

# Why each setting exists and how to fix it, shown when it is missing or malformed.
SETTING_HELP = {
    "SLACK_BOT_TOKEN": "the bot token (xoxb-...) from your Slack app's OAuth & Permissions page",
    "SLACK_SIGNING_SECRET": "the signing secret from your Slack app's Basic Information page",
    "SLACK_APP_TOKEN": "an app-level token (xapp-...) with connections:write, from Basic Information > "
    "App-Level Tokens; leave it unset to serve HTTP instead of Socket Mode",
    "SLACK_API_URL": "the base URL of the Slack Web API ending in /api/, such as https://slack.com/api/",
    "DATABASE_URL": "a database URL such as sqlite:///incidents.db or postgresql://user:pass@host:5432/db",
    "INCIDENT_ANNOUNCE_CHANNEL": "a Slack channel ID such as C0123456789 (right-click the channel > "
    "View channel details; the ID is at the bottom)",
    "PORT": "the HTTP port, a whole number from 1 to 65535",
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR",
    "BACKGROUND_CONCURRENCY": "how many flows (war-room set-ups, channel updates, replies) one process runs at "
    "once after their acks, a whole number from 1 to 1000 (default 8); more wait their turn",
    "SLACK_API_TIMEOUT": "seconds to wait for one Slack Web API answer before giving up on it, from 0.1 to 60 (default 10)",
    "LOG_FORMAT": "text (one readable line per event, the default) or json (one JSON object per line, for log collectors)",
    "INCIDENT_CONFIG": "the path of the team's YAML config file (default runbooks/config.yml)",
    "DORA_REPORT_YEAR": "the year of the DORA report whose time-to-restore bands to use, e.g. 2023",
    "POSTMORTEM_TEMPLATE": "the path of a Jinja2 Markdown template for postmortem drafts",
    "SERVICE_CATALOG": "the path of the service catalog YAML file (default runbooks/catalog.yml)",
    "RUNBOOKS_DIR": "the folder of runbook Markdown files (default runbooks)",
    "HOST": "the address to listen on, such as 0.0.0.0 (all) or 127.0.0.1",
    "DEPLOY_WEBHOOK_SECRET": "a random secret of at least 16 characters (e.g. `openssl rand -hex 32`) that "
    "deploy pipelines send to POST /hooks/deploys; leave it unset to turn the webhook off",
    "ALERT_WEBHOOK_SECRET": "a random secret of at least 16 characters (e.g. `openssl rand -hex 32`) that "
    "Alertmanager, Grafana or another monitor sends to POST /hooks/alerts; leave it unset to turn the webhook off",
    "SLACK_RATE_SPEED": "how many times faster than Slack's published rate limits to pace calls, a number from 1 to "
    "1000 (default 1, Slack's own limits; more is for tests and benchmarks against a fake Slack)",
    "SLACK_KEEP_WARM_SECONDS": "how long the bot may sit idle before it makes a cheap call (auth.test) to keep its "
    "connection to Slack open and TLS-ready, so the first war room after a quiet spell does not pay new handshakes: "
    "0 (off) or 1 to 3600 seconds (default 25, under the 60 s at which common load balancers close idle connections)",
    "SLACK_RATE_LIMITS_SHARED": "true to pace every process's Slack calls through the database, so that several "
    "processes stay within Slack's rate limits together (one database write per Slack call), or false (the default) "
    "to pace each process's calls in memory",
    "PAGERDUTY_WEBHOOK_SECRET": "the signing secret PagerDuty showed when you created the V3 webhook subscription that "
    "posts to /hooks/pagerduty (at least 16 characters); leave it unset to turn that webhook off",
    "PAGERDUTY_EVENTS_URL": "the Events API v2 endpoint, https://events.pagerduty.com/v2/enqueue (the default; "
    "https://events.eu.pagerduty.com/v2/enqueue for an EU account)",
    "PAGERDUTY_API_TOKEN": "a read-only PagerDuty REST API key (Integrations > API Access Keys), so an acknowledgement "
    "in PagerDuty is stamped as the Slack user with the acknowledger's e-mail; leave it unset to stamp their PagerDuty name",
    "PAGERDUTY_API_URL": "PagerDuty's REST API, https://api.pagerduty.com (the default; https://api.eu.pagerduty.com for an EU account)",
    "PAGING_WEBHOOK_URL": "the http(s) URL the generic paging webhook posts trigger, acknowledge and resolve to "
    "(Opsgenie, Grafana OnCall, ntfy, an in-house pager); leave it unset to turn it off",
    "PAGING_WEBHOOK_SECRET": "a random secret of at least 16 characters (e.g. `openssl rand -hex 32`) the generic paging "
    "webhook signs its bodies with (X-Incident-Bot-Signature); required with PAGING_WEBHOOK_URL",
    "PAGE_AT_OPEN": "the severities paged through PagerDuty as soon as an incident opens, e.g. P1,P2 (the default); "
    "none to page only from the escalation chain",
    "DEPLOY_WINDOW": "how long before impact a deploy counts as a suspect, written like 30m, 2h or 1d (default 2h)",
    "SLACK_CLIENT_ID": "the Client ID from your Slack app's Basic Information page, for the dashboard's Sign in with Slack; "
    "leave it unset to turn the dashboard off",
    "SLACK_CLIENT_SECRET": "the Client Secret from your Slack app's Basic Information page; required with SLACK_CLIENT_ID",
    "DASHBOARD_REDIRECT_URL": "the bot's public https URL ending in /dashboard/callback, e.g. https://incidents.example.com/dashboard/callback, "
    "also listed under OAuth & Permissions > Redirect URLs; required with SLACK_CLIENT_ID",
    "DASHBOARD_SESSION_SECRET": "a random secret of at least 32 characters (e.g. `openssl rand -hex 32`) that signs the "
    "dashboard's session cookies; required with SLACK_CLIENT_ID (changing it signs everyone out)",
    "DASHBOARD_SESSION_HOURS": "how many hours a dashboard sign-in lasts, from 1 to 720 (default 12)",
}
MIN_WEBHOOK_SECRET = 16
# What the shipped example secrets hold in place of each value (deploy/kubernetes/secret.example.yaml).
PLACEHOLDER = "replace-me"
MIN_SESSION_SECRET = 32
DASHBOARD_SETTINGS = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "DASHBOARD_REDIRECT_URL", "DASHBOARD_SESSION_SECRET")


def SecretField(**kwargs: Any) -> Any:
    """A setting whose value must never be shown: left out of the settings' repr, and redacted
    from every log line (``DatabaseSettings.secret_values`` finds it by this mark, so a new
    secret setting is covered as soon as it is declared with this)."""
    return Field(repr=False, json_schema_extra={"secret": True}, **kwargs)


def is_secret_field(name: str, model: type[BaseSettings]) -> bool:
    extra = model.model_fields[name].json_schema_extra
    return isinstance(extra, dict) and extra.get("secret") is True


def _in_form(value: str, form: str, problem: str) -> str:
    """``value`` without the spaces around it, if ``form`` matches it from its start; else ``problem``."""
    value = value.strip()
    if not re.match(form, value):
        raise ValueError(problem)
    return value


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and says how to fix it."""


class DatabaseSettings(BaseSettings):
    """What commands that only touch the database need (``incident-bot db upgrade``)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite:///incidents.db", alias="DATABASE_URL")
    # The team's rules (tiers, report thresholds, digests): reports read them without Slack.
    incident_config: Path | None = Field(default=None, alias="INCIDENT_CONFIG")
    dora_report_year: int = Field(default=2023, alias="DORA_REPORT_YEAR")

    @field_validator("incident_config", mode="before")
    @classmethod
    def _blank_config_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            return async_database_url(value)
        except DatabaseURLError as exc:
            raise ValueError(str(exc)) from None

    def secret_values(self) -> list[str]:
        """Every value that must never reach a log: the settings marked secret (SecretField) and the
        password inside DATABASE_URL."""
        values = [
            value
            for name in type(self).model_fields
            if is_secret_field(name, type(self)) and isinstance(value := getattr(self, name), str) and value
        ]
        password = make_url(self.database_url).password
        if password:
            values.append(str(password))
        return values


class Settings(DatabaseSettings):
    slack_bot_token: str = SecretField(alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = SecretField(alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = SecretField(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=SLACK_API_URL_DEFAULT, alias="SLACK_API_URL")
    slack_api_timeout: float = Field(default=10.0, ge=0.1, le=60, alias="SLACK_API_TIMEOUT")
    # Against a fake Slack whose windows are this many times shorter (tests/fake_slack.py): a storm in seconds.
    slack_rate_speed: float = Field(default=1.0, ge=1, le=1000, alias="SLACK_RATE_SPEED")
    # Idle this long, the bot keeps its connection to Slack warm (SlackTransport.keep_warm); 0: never.
    slack_keep_warm_seconds: float = Field(default=25.0, ge=0, le=3600, alias="SLACK_KEEP_WARM_SECONDS")
    # Several processes on one database: pace through it (a database write before each Slack call).
    slack_rate_limits_shared: bool = Field(default=False, alias="SLACK_RATE_LIMITS_SHARED")
    background_concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=1000, alias="BACKGROUND_CONCURRENCY")
    announce_channel: str | None = Field(default=None, alias="INCIDENT_ANNOUNCE_CHANNEL")
    port: int = Field(default=3000, ge=1, le=65535, alias="PORT")
    host: str = Field(default="0.0.0.0", alias="HOST")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_format: str = Field(default="text", alias="LOG_FORMAT")
    postmortem_template: Path | None = Field(default=None, alias="POSTMORTEM_TEMPLATE")
    service_catalog: Path | None = Field(default=None, alias="SERVICE_CATALOG")
    runbooks_dir: Path = Field(default=Path("runbooks"), alias="RUNBOOKS_DIR")
    deploy_webhook_secret: str | None = SecretField(default=None, alias="DEPLOY_WEBHOOK_SECRET")
    deploy_window: timedelta = Field(default=timedelta(hours=2), alias="DEPLOY_WINDOW")
    alert_webhook_secret: str | None = SecretField(default=None, alias="ALERT_WEBHOOK_SECRET")
    pagerduty_webhook_secret: str | None = SecretField(default=None, alias="PAGERDUTY_WEBHOOK_SECRET")
    pagerduty_events_url: str = Field(default=PAGERDUTY_EVENTS_URL_DEFAULT, alias="PAGERDUTY_EVENTS_URL")
    pagerduty_api_token: str | None = SecretField(default=None, alias="PAGERDUTY_API_TOKEN")
    pagerduty_api_url: str = Field(default=PAGERDUTY_API_URL_DEFAULT, alias="PAGERDUTY_API_URL")
    paging_webhook_url: str | None = Field(default=None, alias="PAGING_WEBHOOK_URL")
    paging_webhook_secret: str | None = SecretField(default=None, alias="PAGING_WEBHOOK_SECRET")
    # Text, not a set: pydantic-settings would read a set from the environment as JSON.
    page_at_open: str = Field(default="P1,P2", alias="PAGE_AT_OPEN")
    # The dashboard's Sign in with Slack (OpenID Connect): all four, or none (the dashboard is off).
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = SecretField(default=None, alias="SLACK_CLIENT_SECRET")
    dashboard_redirect_url: str | None = Field(default=None, alias="DASHBOARD_REDIRECT_URL")
    dashboard_session_secret: str | None = SecretField(default=None, alias="DASHBOARD_SESSION_SECRET")
    dashboard_session_hours: int = Field(default=12, ge=1, le=720, alias="DASHBOARD_SESSION_HOURS")

    @field_validator("slack_keep_warm_seconds")
    @classmethod
    def _keep_warm(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("must be 0 (off) or 1 to 3600 seconds")
        return value

    # handlers/cli.py turns these two checks off by overriding them by name.
    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str) -> str:
        return _in_form(value, "xoxb-", "must start with xoxb-")

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, value: str) -> str:
        return _in_form(value, r"[0-9a-fA-F]{16,128}\Z", "must be the hexadecimal signing secret")

    @field_validator("slack_app_token", "announce_channel", "postmortem_template", "service_catalog", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("runbooks_dir")
    @classmethod
    def _runbooks_folder(cls, value: Path) -> Path:
        # A folder that is not there means no runbooks (said at start); a file there is a mistake,
        # often the catalog's path, which would leave the bot without runbooks and catalog alike.
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value.resolve()} is a file, not a folder; the catalog's own setting is SERVICE_CATALOG")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        return None if value is None else _in_form(value, "xapp-", "must start with xapp-")

    @field_validator("slack_api_url", mode="before")
    @classmethod
    def _blank_is_slack(cls, value: str | None) -> str:
        return SLACK_API_URL_DEFAULT if value is None or not str(value).strip() else value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = _in_form(value, r"https?://[^/\s]+", "must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("announce_channel")
    @classmethod
    def _announce_channel(cls, value: str | None) -> str | None:
        return None if value is None else _in_form(value, r"[CG][A-Z0-9]{6,}\Z", "must be a channel ID, not a name")

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("unknown log level")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> str:
        value = "text" if value is None or not str(value).strip() else str(value).strip().lower()
        if value not in ("text", "json"):
            raise ValueError("must be text or json")
        return value

    @field_validator("postmortem_template")
    @classmethod
    def _template_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @field_validator("pagerduty_events_url", mode="before")
    @classmethod
    def _events_url(cls, value: object) -> str:
        if value is None or not str(value).strip():
            return PAGERDUTY_EVENTS_URL_DEFAULT
        return _in_form(str(value), r"https?://[^/\s]+", "must be an http(s) URL")

    @field_validator("pagerduty_api_url", mode="before")
    @classmethod
    def _pagerduty_api_url(cls, value: object) -> str:
        if value is None or not str(value).strip():
            return PAGERDUTY_API_URL_DEFAULT
        return _in_form(str(value), r"https?://[^/\s]+", "must be an http(s) URL").rstrip("/")

    @field_validator("pagerduty_api_token", mode="before")
    @classmethod
    def _pagerduty_api_token(cls, value: object) -> str | None:
        return str(value).strip() or None if value is not None else None

    @field_validator("paging_webhook_url", mode="before")
    @classmethod
    def _paging_url(cls, value: object) -> str | None:
        if value is None or not str(value).strip():
            return None
        return _in_form(str(value), r"https?://[^/\s]+", "must be an http(s) URL")

    @field_validator("page_at_open", mode="before")
    @classmethod
    def _page_at_open(cls, value: object) -> str:
        if value is None or not str(value).strip():
            return "P1,P2"
        words = {word.strip().upper() for word in str(value).split(",") if word.strip()}
        if words == {"NONE"}:
            return "none"
        wrong = sorted(words - {"P1", "P2", "P3", "P4"})
        if wrong:
            raise ValueError(f"{', '.join(wrong)} is not a severity; list some of P1, P2, P3, P4 or write none")
        return ",".join(sorted(words))

    @property
    def severities_paged_at_open(self) -> frozenset[str]:
        return frozenset() if self.page_at_open == "none" else frozenset(self.page_at_open.split(","))

    @model_validator(mode="after")
    def _paging_webhook_signed(self) -> Settings:
        if self.paging_webhook_url and not self.paging_webhook_secret:
            # Named in the message by hand: pydantic's location of a model check is the model, not a field.
            raise ValueError("PAGING_WEBHOOK_SECRET is not set: the paging webhook signs every body, so set both or neither")
        return self

    @field_validator("deploy_webhook_secret", "alert_webhook_secret", "pagerduty_webhook_secret", "paging_webhook_secret", mode="before")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value is None or not str(value).strip():
            return None
        value = str(value).strip()
        if len(value) < MIN_WEBHOOK_SECRET:
            # Never echo the secret, not even in an error.
            raise ValueError(f"{len(value)} characters; use at least {MIN_WEBHOOK_SECRET}")
        return value

    @field_validator("slack_client_id", "slack_client_secret", mode="before")
    @classmethod
    def _blank_client_is_unset(cls, value: object) -> str | None:
        return None if value is None or not str(value).strip() else str(value).strip()

    @field_validator("slack_client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        return None if value is None else _in_form(value, r"[0-9]+\.[0-9]+\Z", "must be the app's Client ID, two numbers joined by a dot")

    @field_validator("dashboard_redirect_url", mode="before")
    @classmethod
    def _redirect_url(cls, value: object) -> str | None:
        if value is None or not str(value).strip():
            return None
        return _in_form(str(value), r"https?://[^/\s]+/(\S*/)?dashboard/callback\Z", "must be an http(s) URL ending in /dashboard/callback")

    @field_validator("dashboard_session_secret", mode="before")
    @classmethod
    def _session_secret(cls, value: object) -> str | None:
        if value is None or not str(value).strip():
            return None
        value = str(value).strip()
        if len(value) < MIN_SESSION_SECRET:
            raise ValueError(f"{len(value)} characters; use at least {MIN_SESSION_SECRET}")  # never the secret itself
        return value

    @model_validator(mode="after")
    def _dashboard_all_or_none(self) -> Settings:
        given = dict(
            zip(
                DASHBOARD_SETTINGS,
                (self.slack_client_id, self.slack_client_secret, self.dashboard_redirect_url, self.dashboard_session_secret),
                strict=True,
            )
        )
        missing = [name for name, value in given.items() if value is None]
        if missing and len(missing) < len(given):
            # Named in the message by hand: pydantic's location of a model check is the model, not a field.
            raise ValueError(
                f"{', '.join(missing)} not set: the dashboard's Sign in with Slack needs {', '.join(DASHBOARD_SETTINGS)} (or none of them)"
            )
        return self

    @property
    def dashboard_enabled(self) -> bool:
        return self.slack_client_id is not None

    @field_validator("deploy_window", mode="before")
    @classmethod
    def _deploy_window(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return timedelta(hours=2)
        if isinstance(value, str):
            value = parse_span(value)
        if isinstance(value, timedelta) and value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    # Declared last, so that pydantic runs it before every other check of the same setting: the
    # person is told it is the example's placeholder, not that it is too short or the wrong shape.
    @field_validator("*", mode="before")
    @classmethod
    def _not_the_examples_placeholder(cls, value: object, info: ValidationInfo) -> object:
        """deploy/kubernetes/secret.example.yaml marks each secret PLACEHOLDER: one left in place
        stops the bot at start, whichever secret it is, instead of running with it."""
        if info.field_name is not None and is_secret_field(info.field_name, cls) and isinstance(value, str) and PLACEHOLDER in value:
            raise ValueError(f"still the example's placeholder, {PLACEHOLDER}")
        return value


def env_file_not_text(env_file: str | Path, error: UnicodeDecodeError) -> ConfigError:
    return ConfigError(f"{env_file}: {not_text(error)}, one NAME=value per line")


def load_settings(env_file: str | Path | None = ".env", *, kind: type[DatabaseSettings] = Settings, **overrides: Any) -> Settings:
    """Read settings, turning pydantic's report into one line naming the first bad setting."""
    try:
        # _env_file is pydantic-settings' run-time keyword, absent from the signature mypy sees; a
        # DatabaseSettings kind is asked for only by the commands that read no other setting.
        return kind(_env_file=env_file, **overrides)  # type: ignore[call-arg,return-value]  # see the two lines above
    except UnicodeDecodeError as exc:  # python-dotenv reading env_file
        raise env_file_not_text(env_file or ".env", exc) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        name = _ALIASES.get(name, name)
        how = SETTING_HELP.get(name, "see .env.example")
        if error["type"] == "missing":
            raise ConfigError(f"{name} is not set: set it in the environment or in .env to {how}.") from None
        reason = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name} is malformed ({reason}): set it to {how}.") from None


_ALIASES = {name: info.alias for name, info in Settings.model_fields.items() if info.alias}
