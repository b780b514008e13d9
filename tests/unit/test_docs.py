"""The docs: the reference pages match the code, the site builds in strict mode (every link and
anchor resolves), and the README's links lead somewhere."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_llmops.settings import OPTIONS, SWITCHES, VALUE_FLAGS

ROOT = Path(__file__).parents[2]
spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
assert spec is not None and spec.loader is not None
hooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hooks)


@pytest.mark.parametrize("path", sorted(hooks.GENERATED))
def test_the_committed_reference_page_is_what_the_code_generates(path: str) -> None:
    committed = (ROOT / "docs" / path).read_text(encoding="utf-8")
    assert committed == hooks.GENERATED[path]() + "\n", f"docs/{path} is stale: run python docs/hooks.py"


def test_every_setting_and_switch_is_in_the_settings_reference() -> None:
    page = hooks.settings_page()
    for option in OPTIONS:
        names = " or ".join(f"`{name}`" for name in option.env_names)
        assert f"| `{option.name}` | `{option.flag}` | {names} |" in page
    for flag in [flag for flag, _ in SWITCHES] + [f"{flag} {metavar}" for flag, metavar, _ in VALUE_FLAGS]:
        assert f"| `{flag}` |" in page


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]'")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "settings" / "index.html").is_file()


@pytest.mark.parametrize("readme", ["README.md", "example_project/README.md"])
def test_the_readmes_relative_links_lead_to_files(readme: str) -> None:
    text = (ROOT / readme).read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)\s#]+)", text) if not re.match(r"[a-z]+:", t)]
    assert targets
    missing = [t for t in targets if not ((ROOT / readme).parent / t).exists()]
    assert missing == []
