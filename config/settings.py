"""The one typed settings object, read from the environment or a `.env` file (prefix `PEERLINE_`).

Built once in the composition root (`bot.app`); nothing else reads the environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.crypto import Keyring

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_QUIET_HOURS = "21:00-09:00"  # local time; SMS programs keep check-ins to about 09:00-20:00


class SettingsError(ValueError):
    """Raised when the environment holds a bad value; the message names the offending key."""


def _hh_mm(value: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"bad time {value!r}: use HH:MM in 24-hour form, e.g. 09:30")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. America/New_York)") from exc
    return value


class Settings(BaseSettings):
    """Every knob of a Peerline deployment."""

    model_config = SettingsConfigDict(
        env_prefix="PEERLINE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = "sqlite+aiosqlite:///./peerline.db"
    telegram_token: SecretStr | None = None
    telegram_api_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # Per sending number: 1 for a US long code, 3 toll-free, 100 a short code (or what Twilio granted).
    twilio_messages_per_second: float = Field(default=1.0, gt=0)
    public_url: str | None = None
    encryption_key: SecretStr | None = None
    config_dir: Path = DEFAULT_CONFIG_DIR
    tick_seconds: float = Field(default=5.0, gt=0)
    program_name: str = "Peerline"
    # A sender line that reveals nothing on a lock screen ("Dr. Lee's office"): used instead of the
    # program name in every message that would name it.
    discreet_name: str | None = None
    support_contact: str = "your peer specialist"
    default_timezone: Annotated[str, AfterValidator(_tz)] = "America/New_York"
    default_checkin_time: Annotated[str, AfterValidator(_hh_mm)] = "09:00"  # for `people add` without one
    # Local window in which nothing scheduled is sent ("21:00-09:00"); "off" disables it.
    quiet_hours: str = DEFAULT_QUIET_HOURS
    catch_up_grace_minutes: int = Field(default=180, ge=0)
    log_format: Literal["text", "json"] = "text"  # json: one object per line, as `serve --json`
    web_session_idle_minutes: int = Field(default=30, gt=0)  # a staff console session ends then
    consent_timeout_hours: float = Field(default=72, gt=0, le=24 * 90)  # a consent request lapses then
    # How long records are kept before `peerline db purge` may remove them: HIPAA asks for six years of
    # the documentation its policies require (45 CFR 164.316(b)(2)); state law or a payer may ask more.
    retention_years: int = Field(default=6, ge=1, le=100)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("twilio_from_number")
    @classmethod
    def _sender_number(cls, value: str | None) -> str | None:
        if value is None or re.fullmatch(r"\d{5,6}", value.strip()):
            return value.strip() if value else value  # a short code is not an E.164 number
        try:
            number = phonenumbers.parse(value, "US")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"bad phone number {value!r} ({exc}); use E.164, e.g. +15551234567") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"bad phone number {value!r}; use E.164, e.g. +15551234567")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("telegram_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = value.get_secret_value().strip() if value is not None else ""
        if not token:
            return None
        bot_id, sep, secret = token.partition(":")
        if not sep or not bot_id.isdigit() or not secret or any(c.isspace() for c in token):
            raise ValueError("not a bot token (@BotFather gives one like 123456789:ABC-DEF1234ghIkl)")
        return SecretStr(token)

    @field_validator("encryption_key")
    @classmethod
    def _usable_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            Keyring(value.get_secret_value())  # raises ValueError with what a key must look like
            return value
        return None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_window(cls, value: str) -> str:
        if value.strip().lower() in ("", "off", "none"):
            return "off"
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("use HH:MM-HH:MM in 24-hour local time, e.g. 21:00-09:00, or off")
        return value.strip()

    @field_validator("discreet_name")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() if value is not None and value.strip() else None

    @property
    def sender_name(self) -> str:
        """The name messages go out under: the discreet name when one is set, else the program's."""
        return self.discreet_name or self.program_name

    @property
    def quiet_window(self) -> tuple[str, str] | None:
        if self.quiet_hours == "off":
            return None
        start, end = self.quiet_hours.split("-")
        return start, end

    @field_validator("config_dir")
    @classmethod
    def _config_dir_exists(cls, value: Path) -> Path:
        if not (value / "flows").is_dir():
            raise ValueError(f"{value} has no flows/ directory")
        return value


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one line per bad `PEERLINE_*` key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"PEERLINE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"bad settings: {problems}") from exc
