"""MkDocs hook: the reference pages, generated from the code.

``reference/settings.md`` from the option table (``pytest_llmops.settings``), ``markers.md``
from the markers' signatures, ``hooks.md`` from the hook specifications, ``api.md`` from the
public names' docstrings. The site is built from the code as it is; the copies committed under
``docs/reference/`` (``python docs/hooks.py`` writes them) are checked by the tests to match.
"""

from __future__ import annotations

import dataclasses
import html
import inspect
from pathlib import Path
from typing import Any, Callable

DOCS = Path(__file__).parent
#: Hand-written parts of the settings page, around its generated tables (not pages of their own).
PARTIALS = ("reference/settings-intro.md", "reference/settings-notes.md")


def settings_page() -> str:
    from pytest_llmops import settings

    defaults = {f.name: f for f in dataclasses.fields(settings.Settings)}
    rows = []
    for option in settings.OPTIONS:
        env = " or ".join(f"`{name}`" for name in option.env_names)
        rows.append(
            f"| `{option.name}` | `{option.flag}` | {env} | {_default(defaults[option.field])} | {_cell(option.help)} |"
        )
    switches = [f"| `{flag}` | {_cell(help)} |" for flag, help in settings.SWITCHES]
    switches += [f"| `{flag} {metavar}` | {_cell(help)} |" for flag, metavar, help in settings.VALUE_FLAGS]
    return "\n".join(
        [
            "# Settings",
            "",
            _partial("settings-intro.md"),
            "",
            "| ini key | flag | environment variable | default | what it sets |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Switches (command line only):",
            "",
            "| flag | what it does |",
            "|---|---|",
            *switches,
            "",
            _partial("settings-notes.md"),
        ]
    )


def markers_page() -> str:
    from pytest_llmops._plugin import markers

    parts = ["# Markers", "", "`pytest --markers` prints the same lines: they are made from these signatures.", ""]
    for marker in markers.MARKERS:
        signature = markers.signature(marker)
        parts += [
            f"## `{marker.__name__}`",
            "",
            "```python",
            f"@pytest.mark.{marker.__name__}{_bare(signature)}",
            "```",
            "",
            _doc(marker),
            "",
        ]
    return "\n".join(parts)


def hooks_page() -> str:
    from pytest_llmops import hookspecs

    parts = ["# Hooks", "", "Implement these in a `conftest.py` or a plugin (`pytest_llmops.hookspecs`).", ""]
    for name, function in sorted(vars(hookspecs).items()):
        if name.startswith("pytest_llmops_") and callable(function):
            parts += [
                f"## `{name}`",
                "",
                "```python",
                f"def {name}{_bare(inspect.signature(function))}",
                "```",
                "",
                _doc(function),
                "",
            ]
    return "\n".join(parts)


def api_page() -> str:
    import pytest_llmops

    parts = [
        "# Public API",
        "",
        "What `import pytest_llmops` offers (loaded on first use, so the import costs nothing).",
        "",
    ]
    for name in sorted(pytest_llmops.__all__):
        value = getattr(pytest_llmops, name)
        kind = "class" if inspect.isclass(value) else "function" if callable(value) else "value"
        # A value's docstring would be its type's (str's, which differs between Pythons).
        described = _doc(value) if kind != "value" else f"`{html.escape(repr(value), quote=False)}`"
        parts += [f"## `{name}` ({kind})", "", described, ""]
    parts += [
        "Also public: `pytest_llmops.errors`, `.hookspecs` ([hooks](hooks.md)), `.metrics`, `.settings` "
        "([settings](settings.md)), `.testing`, and `python -m pytest_llmops <subcommand>`; modules whose "
        "names start with `_` are internal."
    ]
    return "\n".join(parts)


GENERATED: dict[str, Callable[[], str]] = {
    "reference/settings.md": settings_page,
    "reference/markers.md": markers_page,
    "reference/hooks.md": hooks_page,
    "reference/api.md": api_page,
}


def on_files(files: Any, config: Any) -> Any:
    """The partials are parts of a page, not pages."""
    for partial in PARTIALS:
        found = files.get_file_from_path(partial)
        if found is not None:
            files.remove(found)
    return files


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """A generated page as the code gives it now (its committed copy may be older)."""
    make = GENERATED.get(page.file.src_uri)
    return make() if make is not None else markdown


def write() -> None:
    """Write the generated pages into docs/ (committed, so they read on the repository too)."""
    for path, make in GENERATED.items():
        (DOCS / path).write_text(make() + "\n", encoding="utf-8")


def _partial(name: str) -> str:
    return (DOCS / "reference" / name).read_text(encoding="utf-8").strip()


def _default(field: dataclasses.Field[Any]) -> str:
    value = field.default if field.default is not dataclasses.MISSING else None
    if value in (None, (), {}) or field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return "—"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _bare(signature: inspect.Signature) -> str:
    """``signature`` without annotations, as a user writes the call."""
    return str(
        signature.replace(
            parameters=[p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()],
            return_annotation=inspect.Signature.empty,
        )
    )


def _doc(value: Any) -> str:
    return html.escape(inspect.getdoc(value) or "(no description)", quote=False)


if __name__ == "__main__":
    write()
