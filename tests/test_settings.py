from __future__ import annotations

from pathlib import Path

import pytest
from pytest import MonkeyPatch

from app.main import make_hub
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
        ({"LIVEDASH_HISTORY_SECONDS": "60"}, "LIVEDASH_HISTORY_SECONDS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}: "):
        Settings.from_env(env)


def test_new_defaults_persist_to_sqlite_and_throttle_cards() -> None:
    settings = Settings.from_env({})
    assert settings.db_path == "data/livedash.sqlite3"
    assert (settings.card_rate, settings.redis_url, settings.redis_prefix) == (4.0, "", "livedash")
    assert (settings.web_concurrency, settings.lease_seconds) == (1, 10.0)


def test_paas_variables_map_to_their_fields_and_livedash_ones_win() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://cache:6379/0", "WEB_CONCURRENCY": "3"})
    assert (settings.redis_url, settings.web_concurrency) == ("redis://cache:6379/0", 3)
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://addon:6379/0",
            "LIVEDASH_REDIS_URL": "redis://mine:6379/1",
            "WEB_CONCURRENCY": "4",
            "LIVEDASH_WEB_CONCURRENCY": "2",
        }
    )
    assert (settings.redis_url, settings.web_concurrency) == ("redis://mine:6379/1", 2)


def test_livedash_web_concurrency_above_one_without_redis_is_refused() -> None:
    """Each worker would have its own hub: clients of one would never see ingest to another."""
    with pytest.raises(SettingsError, match=r"^LIVEDASH_WEB_CONCURRENCY=4: .*LIVEDASH_REDIS_URL"):
        Settings.from_env({"LIVEDASH_WEB_CONCURRENCY": "4"})
    assert (
        Settings.from_env(
            {"LIVEDASH_WEB_CONCURRENCY": "4", "REDIS_URL": "redis://cache:6379/0"}
        ).web_concurrency
        == 4
    )


def test_a_platform_set_web_concurrency_without_redis_runs_one_worker_and_says_why() -> None:
    """Heroku's buildpack sets WEB_CONCURRENCY itself: a plain `git push` must come up."""
    settings, notes = Settings.from_env_noting(
        {"WEB_CONCURRENCY": "4", "WEB_CONCURRENCY_SET_BY": "heroku/python"}
    )
    assert settings.web_concurrency == 1
    assert notes == [
        "WEB_CONCURRENCY=4 (set by heroku/python): running one worker, as several need a shared hub;"
        " set LIVEDASH_REDIS_URL (or REDIS_URL) to use them"
    ]
    settings, notes = Settings.from_env_noting({"WEB_CONCURRENCY": "2"})
    assert (settings.web_concurrency, len(notes)) == (1, 1)
    settings, notes = Settings.from_env_noting({"WEB_CONCURRENCY": "3", "REDIS_URL": "redis://cache:6379/0"})
    assert (settings.web_concurrency, notes) == (3, [])


def test_check_refuses_the_same_combination_built_in_code() -> None:
    """`create_app(Settings(...))` does not go through `from_env`, so it calls `check()` itself."""
    with pytest.raises(SettingsError, match=r"^LIVEDASH_WEB_CONCURRENCY=2"):
        Settings(web_concurrency=2).check()
    Settings(web_concurrency=2, redis_url="redis://cache:6379/0").check()


def test_repr_masks_the_redis_url_which_may_carry_a_password() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://:hunter2@cache:6379/0"})
    assert "hunter2" not in repr(settings) and "redis_url=***" in repr(settings)
    assert "redis_url=''" in repr(Settings())  # an empty one is shown as empty, not as a secret


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY"),
        ({"LIVEDASH_WEB_CONCURRENCY": "0"}, "LIVEDASH_WEB_CONCURRENCY"),
        ({"LIVEDASH_CARD_RATE": "-1"}, "LIVEDASH_CARD_RATE"),
        ({"LIVEDASH_REDIS_PREFIX": "has space"}, "LIVEDASH_REDIS_PREFIX"),
        ({"LIVEDASH_LEASE_SECONDS": "0.1"}, "LIVEDASH_LEASE_SECONDS"),
    ],
)
def test_bad_new_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}: "):
        Settings.from_env(env)


def test_db_path_chooses_between_sqlite_and_memory_only() -> None:
    """An empty `LIVEDASH_DB_PATH` is the documented way to keep nothing on disk."""
    assert make_hub(Settings.from_env({"LIVEDASH_DB_PATH": ""})).kind == "memory"
    assert make_hub(Settings.from_env({"LIVEDASH_DB_PATH": "elsewhere.sqlite3"})).kind == "sqlite"


@pytest.mark.parametrize("url", ["foo", "localhost:6379", "http://cache:6379", "redis://"])
def test_a_redis_url_redis_py_cannot_use_is_refused_naming_the_variable(url: str) -> None:
    with pytest.raises(SettingsError, match="LIVEDASH_REDIS_URL"):
        Settings.from_env({"REDIS_URL": url})


@pytest.mark.parametrize("url", ["redis://cache:6379/0", "rediss://:secret@cache", "unix:///run/redis.sock"])
def test_redis_urls_in_every_form_redis_py_takes_are_accepted(url: str) -> None:
    assert Settings.from_env({"LIVEDASH_REDIS_URL": url}).redis_url == url


def test_the_dashboard_file_defaults_to_dashboard_toml_when_present(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).config == ""
    (tmp_path / "dashboard.toml").write_text("")
    assert Settings.from_env({}).config == "dashboard.toml"
    assert Settings.from_env({"LIVEDASH_CONFIG": ""}).config == ""
    assert Settings.from_env({"LIVEDASH_CONFIG": "/etc/board.toml"}).config == "/etc/board.toml"


def test_an_ingest_token_turns_the_demo_off_unless_asked_for() -> None:
    """A real deployment must not get the demo's numbers mixed into its own."""
    assert Settings.from_env({"LIVEDASH_INGEST_TOKEN": "s3cret"}).demo is False
    assert Settings.from_env({"LIVEDASH_INGEST_TOKEN": "s3cret", "LIVEDASH_DEMO": "1"}).demo is True
    assert Settings.from_env({}).demo is True


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "dash.example.com"])
def test_a_public_address_with_nothing_protecting_the_board_is_refused_naming_the_three_ways(
    host: str,
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"HOST": host})
    assert str(refused.value) == (
        f"HOST={host} is reachable from other machines and nothing protects the board:"
        " set LIVEDASH_VIEWER_PASSWORD, LIVEDASH_TRUSTED_USER_HEADER (behind an SSO proxy),"
        " or LIVEDASH_PUBLIC=1 to serve it to anyone"
    )


@pytest.mark.parametrize(
    "env",
    [
        {"HOST": "0.0.0.0", "LIVEDASH_VIEWER_PASSWORD": "pw"},
        {
            "HOST": "0.0.0.0",
            "LIVEDASH_TRUSTED_USER_HEADER": "X-Forwarded-Email",
            "FORWARDED_ALLOW_IPS": "10.0.0.5",
        },
        {"HOST": "0.0.0.0", "LIVEDASH_PUBLIC": "1"},
        {"HOST": "127.0.0.1"},
        {"HOST": "localhost"},
        {"HOST": "::1"},
    ],
)
def test_a_protected_public_or_loopback_board_starts(env: dict[str, str]) -> None:
    Settings.from_env(env)


def test_the_trusted_user_header_is_refused_when_every_peer_is_trusted() -> None:
    with pytest.raises(SettingsError, match=r"^LIVEDASH_TRUSTED_USER_HEADER needs FORWARDED_ALLOW_IPS"):
        Settings.from_env({"LIVEDASH_TRUSTED_USER_HEADER": "X-Forwarded-Email", "FORWARDED_ALLOW_IPS": "*"})


def test_forwarded_allow_ips_that_are_not_addresses_are_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^FORWARDED_ALLOW_IPS: "):
        Settings.from_env({"FORWARDED_ALLOW_IPS": "proxy.internal"})


def test_secrets_are_masked_in_repr() -> None:
    settings = Settings(viewer_password="hunter2", session_secret="k3y")
    assert "hunter2" not in repr(settings) and "k3y" not in repr(settings)
    assert "viewer_password=***" in repr(settings) and "session_secret=***" in repr(settings)


@pytest.mark.parametrize("value", ["'self'; script-src *", "a,b", "x\ny"])
def test_frame_ancestors_cannot_smuggle_another_directive(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^LIVEDASH_FRAME_ANCESTORS: "):
        Settings.from_env({"LIVEDASH_FRAME_ANCESTORS": value})


def test_dev_mode_is_off_unless_asked_for_and_brings_the_style_guide() -> None:
    production = Settings.from_env({})
    assert (production.dev, production.styleguide, production.styleguide_on) == (False, False, False)
    dev = Settings.from_env({"LIVEDASH_DEV": "1"})
    assert (dev.dev, dev.styleguide, dev.styleguide_on) == (True, False, True)
    asked = Settings.from_env({"LIVEDASH_STYLEGUIDE": "true"})
    assert (asked.dev, asked.styleguide_on) == (False, True)
    with pytest.raises(SettingsError, match=r"^LIVEDASH_DEV: "):
        Settings.from_env({"LIVEDASH_DEV": "sometimes"})


def test_history_is_kept_a_day_unless_set() -> None:
    assert Settings.from_env({}).history_seconds == 86400
    assert Settings.from_env({"LIVEDASH_HISTORY_SECONDS": "3600"}).history_seconds == 3600
