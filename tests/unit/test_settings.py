"""Settings: environment, flags, errors, and the documentation that lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from scimlite.settings import Settings, SettingsError

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`SCIMLITE_{name.upper()}`" in DOCS.read_text()


def test_environment_is_read_and_flags_win() -> None:
    env = {"SCIMLITE_PORT": "9000", "SCIMLITE_MAX_COUNT": "50"}
    settings = Settings.load(env, port=9100)
    assert (settings.port, settings.max_count) == (9100, 50)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("SCIMLITE_PORT", "eighty", id="not-a-number"),
        pytest.param("SCIMLITE_SYNCHRONOUS", "OFF", id="unsafe-synchronous"),
        pytest.param("SCIMLITE_JOURNAL_RETENTION_DAYS", "-1", id="negative-retention"),
        pytest.param("SCIMLITE_UNKNOWN_MEMBERS", "ignore", id="unknown-members-policy"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.load({variable: value})
