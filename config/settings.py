"""The one typed settings object, read from the environment or a `.env` file (prefix `PEERLINE_`).

Built once in the composition root (`bot.app`); nothing else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent


class SettingsError(ValueError):
    """Raised when the environment holds a bad value; the message names the offending key."""


def _tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. America/New_York)") from exc
    return value


class Settings(BaseSettings):
    """Every knob of a Peerline deployment."""

    model_config = SettingsConfigDict(
        env_prefix="PEERLINE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
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
    public_url: str | None = None
    encryption_key: SecretStr | None = None
    config_dir: Path = DEFAULT_CONFIG_DIR
    tick_seconds: float = Field(default=5.0, gt=0)
    program_name: str = "Peerline"
    support_contact: str = "your peer specialist"
    default_timezone: Annotated[str, AfterValidator(_tz)] = "America/New_York"
    default_checkin_time: str = "09:00"

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

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
