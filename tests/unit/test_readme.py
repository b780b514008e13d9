"""The README documents every setting and switch the plugin declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmops.settings import OPTIONS, SWITCHES, VALUE_FLAGS

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_every_setting_is_in_the_settings_table(option) -> None:
    names = " or ".join(f"`{name}`" for name in option.env_names)
    assert f"| `{option.name}` | `{option.flag}` | {names} |" in README


@pytest.mark.parametrize("flag", [flag for flag, _ in SWITCHES] + [f"{flag} {metavar}" for flag, metavar, _ in VALUE_FLAGS])
def test_every_switch_is_documented(flag: str) -> None:
    assert f"| `{flag}` |" in README
