"""Settings fail fast and name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import DEFAULT_CONFIG_DIR, SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./peerline.db"
    assert settings.config_dir == DEFAULT_CONFIG_DIR
    assert settings.telegram_token is None
    assert settings.retention_years == 6  # HIPAA: six years of required documentation


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PEERLINE_TICK_SECONDS=2.5\nPEERLINE_PUBLIC_URL=https://x.example\n")
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", "123:abc")
    settings = load_settings()
    assert settings.tick_seconds == 2.5
    assert settings.log_format == "text"
    monkeypatch.setenv("PEERLINE_LOG_FORMAT", "json")
    assert load_settings().log_format == "json"
    assert settings.public_url == "https://x.example"
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("PEERLINE_DATABASE_URL", "mysql://x", "PEERLINE_DATABASE_URL"),
        ("PEERLINE_TICK_SECONDS", "-1", "PEERLINE_TICK_SECONDS"),
        ("PEERLINE_TICK_SECONDS", "soon", "PEERLINE_TICK_SECONDS"),
        ("PEERLINE_DEFAULT_TIMEZONE", "Mars/Olympus", "PEERLINE_DEFAULT_TIMEZONE"),
        ("PEERLINE_CONFIG_DIR", "/nonexistent/peerline", "PEERLINE_CONFIG_DIR"),
        ("PEERLINE_ENCRYPTION_KEY", "hunter2", "PEERLINE_ENCRYPTION_KEY.*peerline db new-key"),
        ("PEERLINE_LOG_FORMAT", "xml", "PEERLINE_LOG_FORMAT"),
        ("PEERLINE_RETENTION_YEARS", "0", "PEERLINE_RETENTION_YEARS"),
    ],
)
def test_bad_values_name_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str, value: str, named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_messages_go_out_under_the_discreet_name_when_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEERLINE_PROGRAM_NAME", "Harbor Recovery")
    assert load_settings().sender_name == "Harbor Recovery"
    monkeypatch.setenv("PEERLINE_DISCREET_NAME", "  ")
    assert load_settings().discreet_name is None
    monkeypatch.setenv("PEERLINE_DISCREET_NAME", " Dr. Lee's office ")
    assert load_settings().sender_name == "Dr. Lee's office"
