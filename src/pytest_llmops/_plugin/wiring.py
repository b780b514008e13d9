"""The names the plugin's hook objects are registered under, at configure or when first needed."""

from __future__ import annotations

import pytest

_PREFIX = "llmops-"


def register(config: pytest.Config, name: str, plugin: object) -> None:
    """Register one of the plugin's hook objects under ``name`` unless one already is."""
    if not config.pluginmanager.has_plugin(_PREFIX + name):
        config.pluginmanager.register(plugin, _PREFIX + name)


def plugin(config: pytest.Config, name: str) -> object | None:
    """The hook object registered under ``name``, if any."""
    return config.pluginmanager.get_plugin(_PREFIX + name)


def unregister_all(config: pytest.Config) -> None:
    """Close and unregister every hook object the plugin registered (at unconfigure, as
    junitxml does). Closed first: pytest's fixture manager keeps every object ever registered
    alive to the end of the process, so what one holds (every record, the report) must go."""
    for name, plugin in list(config.pluginmanager.list_name_plugin()):
        if name and name.startswith(_PREFIX):
            close = getattr(plugin, "close", None)
            if callable(close):
                close()
            config.pluginmanager.unregister(plugin)
