from __future__ import annotations

import pytest

from app.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.demo, settings.feed_size) == ("127.0.0.1", 8000, True, 50)
    assert settings.heartbeat_seconds <= 15


def test_environment_overrides_with_conversion() -> None:
    settings = Settings.from_env(
        {"LIVEDASH_DEMO": "0", "PORT": "9001", "LIVEDASH_FEED_SIZE": "7", "LIVEDASH_INGEST_TOKEN": "s3cret"}
    )
    assert (settings.demo, settings.port, settings.feed_size) == (False, 9001, 7)
    assert settings.ingest_token == "s3cret"
    assert "s3cret" not in repr(settings) and "ingest_token=***" in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LIVEDASH_FEED_SIZE": "lots"}, "LIVEDASH_FEED_SIZE"),
        ({"LIVEDASH_HEARTBEAT_SECONDS": "0"}, "LIVEDASH_HEARTBEAT_SECONDS"),
        ({"PORT": "70000"}, "PORT"),
        ({"LIVEDASH_PORT": "abc"}, "LIVEDASH_PORT"),
        ({"LIVEDASH_DEMO_INTERVAL": "inf"}, "LIVEDASH_DEMO_INTERVAL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}: "):
        Settings.from_env(env)
