"""Applying a review (``--llm-apply-review REVIEW.json``) while the reviewed tests run again.

A reviewed test that runs compares its outputs with the ones reviewed. Where they are the same,
an accepted output becomes its reference (staged in its snapshot entry, as
``--llm-snapshot-update`` would, or written into the dataset row its reference came from), and
the reviewer's good or bad goes, with the judged output, to the calibration file of the judge
that graded it. Where they differ (the prompt, the model or a recording changed since the
review), that part of the review is refused, with the reason: nothing is applied blindly.

Each process decides per test and ships what it decided on the test's teardown report; the
controller writes the dataset rows and the labels once, at the end, and says what it applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator

import pytest

from pytest_llmops._files import shown
from pytest_llmops._plugin import keys, markers

if TYPE_CHECKING:
    from pytest_llmops._plugin.session import LLMSession
    from pytest_llmops._review import Decision, Review

#: The reason for a refused output: what was reviewed is not what this checkout gives.
CHANGED = "its output is not the one reviewed (the prompt, the model or a recording changed since): review it again"


class ReviewApplier:
    """The review being applied, and (on the controller) what applying it did, per test."""

    def __init__(self, session: LLMSession, review: Review) -> None:
        self.session = session
        self.review = review
        self.done: dict[str, list[dict[str, Any]]] = {}  # controller: node id -> what was done
        self.problems: list[str] = []

    # -- while a test runs (any process) ------------------------------------------------

    def accept(self, item: pytest.Item, name: str, output: str, source: str, reference: str | None) -> bool:
        """Whether ``output`` becomes ``item``'s reference ``name`` (from ``source``): the review
        accepted it, and it is the output reviewed. Notes what it did, or why not."""
        decision = self.review.decisions.get(item.nodeid)
        if decision is None or not decision.accept:
            return False
        notes = _notes(item)
        reviewed = decision.outputs.get(name)
        if keys.CONTROL in item.stash:
            notes.append(_refused("reference", f"reference {name!r}: an A/B variant's test never writes a reference"))
        elif reviewed is None:
            notes.append(_refused("reference", f"reference {name!r}: the review holds no output for it"))
        elif output != reviewed:
            notes.append(_refused("reference", f"reference {name!r}: {CHANGED}"))
        elif source == "snapshot":
            notes.append(
                {
                    "part": "reference",
                    "name": name,
                    "into": "snapshot",
                    "file": str(self.session.snapshots.snapshot_path(item)),
                }
            )
            return True
        else:
            return self._accept_into_row(item, name, output, reference, notes)
        return False

    def _accept_into_row(
        self, item: pytest.Item, name: str, output: str, reference: str | None, notes: list[dict[str, Any]]
    ) -> bool:
        from pytest_llmops._plugin.cases import case_row_of

        row = case_row_of(item)
        if row is None or not isinstance(row.expected, str) or reference != row.expected:
            notes.append(
                _refused(
                    "reference",
                    f"reference {name!r} is given in the test's code, not read from a "
                    "snapshot or a dataset row: change it there",
                )
            )
            return False
        notes.append(
            {
                "part": "reference",
                "name": name,
                "into": "dataset",
                "file": str(row.dataset.path),
                "line": row.line,
                "column": row.dataset.expected,
                "value": output,
            }
        )
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # Before the report is made: the test's stash is released once it is.
        decision = self.review.decisions.get(item.nodeid)
        notes = None
        if call.when == "teardown" and decision is not None:
            notes = _notes(item) + self._labels(item, decision)
            if decision.accept and not any(n["part"] == "reference" for n in notes):
                notes.append(
                    _refused("reference", "accepted, but no golden check of it read a stored or dataset reference")
                )
        report = yield
        if notes is not None:
            report.llmops_review = notes  # type: ignore[attr-defined]
        return report

    def _labels(self, item: pytest.Item, decision: Decision) -> list[dict[str, Any]]:
        """The reviewer's label for each verdict of a judge on the output reviewed."""
        from pytest_llmops._report.data import metric_key
        from pytest_llmops._review import label_entry

        record = item.stash.get(keys.RECORD, None)
        if decision.label is None or not decision.judged:
            return []
        verdicts = [
            s
            for s in (record.scores if record else ())
            if s.get("kind") == "judge" and s.get("details", {}).get("mode") != "pairwise"
        ]
        if not verdicts:
            return [_refused("label", "labelled, but no judge graded it in this run")]
        notes = []
        for verdict in verdicts:
            key = metric_key(verdict)
            judged = decision.verdict(key)
            if judged is None:
                continue
            if verdict.get("output") != judged["output"]:
                notes.append(_refused("label", f"{key}: {CHANGED}"))
                continue
            path, new = _labels_file(item)
            if path.suffix != ".jsonl":
                notes.append(
                    _refused("label", f"{key}: its calibration file {path} is not JSONL: add the label there by hand")
                )
                continue
            notes.append(
                {
                    "part": "label",
                    "key": key,
                    "file": str(path),
                    "new_file": new,
                    "entry": label_entry(decision, self.review.reviewer, judged),
                }
            )
        return notes

    # -- the controller -------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        notes = getattr(report, "llmops_review", None)
        if notes is not None and not self.session.worker:
            self.done[report.nodeid] = notes

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.session.worker:
            return
        from pytest_llmops._dataset_edit import write_value
        from pytest_llmops._datasets import DatasetError
        from pytest_llmops._review import append_labels

        done = [note for notes in self.done.values() for note in notes]
        # Bottom up, so a value written over several lines leaves the rows above where they were.
        for note in sorted((n for n in done if n.get("into") == "dataset"), key=lambda n: (n["file"], -n["line"])):
            try:
                write_value(Path(note["file"]), note["line"], note["column"], note["value"])
            except (DatasetError, OSError) as error:
                self.problems.append(f"not written: {error}")
        labels: dict[str, list[dict[str, Any]]] = {}
        for note in done:
            if note["part"] == "label" and "refused" not in note:
                labels.setdefault(note["file"], []).append(note["entry"])
        for file, entries in labels.items():
            try:
                append_labels(Path(file), entries)
            except OSError as error:
                self.problems.append(f"labels not written to {file}: {error.strerror or error}")
        if self.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.session.worker:
            return
        from pytest_llmops._report.text import visible

        root = self.session.config.rootpath
        done = [note for notes in self.done.values() for note in notes]
        references = [n for n in done if n["part"] == "reference" and "refused" not in n]
        labels = [n for n in done if n["part"] == "label" and "refused" not in n]
        write = terminalreporter.write_line
        terminalreporter.section("llmops review")
        where = sorted({shown(Path(n["file"]), root) for n in references + labels})
        write(
            f"{shown(self.review.path, root)} (reviewer {visible(self.review.reviewer) or 'unnamed'}): "
            f"{len(references)} references accepted, {len(labels)} labels added"
            + (f" ({', '.join(where)})" if where else "")
        )
        refused = [(nodeid, n["refused"]) for nodeid, notes in self.done.items() for n in notes if "refused" in n]
        refused += [
            (nodeid, "not run by this run (deselected, not collected or not reached)")
            for nodeid in self.review.decisions
            if nodeid not in self.done
        ]
        if refused:
            write("refused:")
            for nodeid, why in sorted(refused):
                write(visible(f"  {nodeid}: {why}"))
        new = sorted({shown(Path(n["file"]), root) for n in labels if n["new_file"]})
        if new:
            write(f"new label files (point the judge's calibration= at them): {', '.join(new)}")
        for problem in self.problems:
            write(visible(problem), red=True)


def _notes(item: pytest.Item) -> list[dict[str, Any]]:
    notes = item.stash.get(keys.REVIEW, None)
    if notes is None:
        notes = item.stash[keys.REVIEW] = []
    return notes


def _refused(part: str, why: str) -> dict[str, Any]:
    return {"part": part, "refused": why}


def _labels_file(item: pytest.Item) -> tuple[Path, bool]:
    """The calibration file of ``item``'s judge (``calibration=`` of its marker, unless it names a
    set shipped with the plugin), else a labels file beside the test module; and whether that
    one is new."""
    from pytest_llmops._plugin.judging import calibration_file

    try:
        named = markers.bind_marker(item, markers.llm_judge).get("calibration")
    except TypeError:
        named = None
    if named is not None:
        path = calibration_file(item, str(named))
        if not path.is_relative_to(
            Path(__file__).parents[1]
        ):  # a labelled set shipped with the plugin stays as shipped
            return path, False
    path = item.path.parent / f"{item.path.stem}.judge-labels.jsonl"
    return path, not path.exists()
