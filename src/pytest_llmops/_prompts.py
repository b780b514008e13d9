"""Prompt templates: Jinja2 files rendered strictly in a sandbox, to text or to chat turns.

A template is a file in the prompts folder (``summarize.jinja`` is the template
``summarize``; ``.j2``, ``.txt`` and ``.md`` files work too). It may start with YAML front
matter between ``---`` lines (``version``, ``description``, ``chat`` and generation settings).
A line that holds only ``system:``, ``user:`` or ``assistant:`` starts a chat turn; a template
without such lines renders to plain text (one user turn). Role lines are read from the
template source, never from rendered variables, so text passed in cannot forge a turn. They
are lowercase: a plain-text template with lines like ``User:`` raises a :class:`PromptWarning`
unless its front matter says ``chat: false`` (plain text on purpose, a few-shot prompt). A
template whose ``chat`` says otherwise than how it renders is an error.

Every template has a version: a content hash covering the file and every template it
includes, extends or imports, plus the version its front matter declares.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import secrets
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from pytest_llmops._files import name_problem
from pytest_llmops._models.base import ROLES, Message, PromptVersion
from pytest_llmops._models.generation import RULES, GenerationSettingError, checked
from pytest_llmops.errors import PromptWarning, SetupError

if TYPE_CHECKING:
    from pytest_llmops._results import TestRecord
    from pytest_llmops._variants import Variant

TEMPLATE_SUFFIXES = (".jinja", ".j2", ".txt", ".md")
BUILTIN_PROMPTS = Path(__file__).parent / "builtin_prompts"
HASH_LENGTH = 16

_ROLE_LINE = re.compile(r"^(system|user|assistant):[ \t]*$", re.MULTILINE)
_ROLE_LIKE_LINE = re.compile(r"^(system|user|assistant):[ \t]*$", re.MULTILINE | re.IGNORECASE)
_UNDEFINED_NAME = re.compile(r"'(.+)' is undefined")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)
_FRONT_MATTER_KEYS = ("version", "description", "chat", *RULES)


class PromptError(SetupError):
    """A template cannot be found, parsed or rendered; the message names file and line."""


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered template: chat messages (or one user turn), its versions and settings.

    Pass it to ``llm.complete(...)``: the call uses ``settings`` as generation defaults and
    records ``versions`` with its completion.
    """

    name: str
    messages: tuple[Message, ...]
    versions: tuple[PromptVersion, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    is_chat: bool = False

    @property
    def text(self) -> str:
        """The whole rendered text; chat turns are written as in the template."""
        if not self.is_chat:
            return self.messages[0].content
        return "\n\n".join(f"{m.role}:\n{m.content}" for m in self.messages)

    @property
    def version(self) -> PromptVersion:
        return self.versions[0]

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "messages": [m.to_dict() for m in self.messages],
            "versions": [v.to_dict() for v in self.versions],
            "settings": dict(self.settings),
        }


@dataclass(frozen=True)
class _Template:
    """One template file as read from disk."""

    name: str
    path: Path
    raw: str
    version: str | None
    description: str | None
    settings: Mapping[str, Any]
    chat: bool | None = None  # declared in front matter (checked at render); None: not declared


class PromptLibrary:
    """The templates of a prompts folder, with ``fallback`` (the built-in templates) behind it.

    A name is looked up in ``folder`` first, so a project can override a built-in template
    (the judge's, for instance) by writing one of the same name. Files are read once.
    """

    def __init__(self, folder: Path, fallback: Path | None = BUILTIN_PROMPTS) -> None:
        self.folder = Path(folder)
        self.roots = tuple(r.resolve() for r in (self.folder, fallback) if r is not None)
        self._templates: dict[str, _Template] = {}
        self._canonical: dict[str, str] = {}  # a requested name -> the template it found
        self._versions: dict[str, PromptVersion] = {}
        self._checked: set[str] = set()  # plain-text templates checked for capitalised role lines
        self._marker = f"\x00turn-{secrets.token_hex(8)}:"
        self._env = SandboxedEnvironment(
            loader=_Loader(self),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._env.globals["turn"] = self._turn

    def __repr__(self) -> str:
        return f"<PromptLibrary {self.folder}>"

    def names(self) -> list[str]:
        """Every template name, from the folder and the fallback, sorted."""
        found: set[str] = set()
        for root in self.roots:
            if root.is_dir():
                for path in root.rglob("*"):
                    if path.suffix in TEMPLATE_SUFFIXES and path.is_file():
                        found.add(path.relative_to(root).with_suffix("").as_posix())
        return sorted(found)

    def render(self, name: str, /, **variables: Any) -> RenderedPrompt:
        """Render ``name`` with ``variables``; any problem raises :class:`PromptError`."""
        template = self._template(name)
        try:
            compiled = self._env.get_template(template.name)
            output = compiled.render(**variables)
        except PromptError as error:  # from a template it includes, extends or imports
            where = _location(error, self.roots, template)
            raise PromptError(f"prompt {template.name!r} ({where}): {error}") from None
        except jinja2.TemplateSyntaxError as error:
            raise _syntax_error(error) from None
        except jinja2.UndefinedError as error:
            where = _location(error, self.roots, template)
            raise PromptError(
                f"prompt {template.name!r}: undefined variable: {error} ({where}); {_passed(error, variables)}"
            ) from None
        except Exception as error:  # the sandbox, a filter or an expression of the template
            where = _location(error, self.roots, template)
            raise PromptError(f"prompt {template.name!r}: {type(error).__name__}: {error} ({where})") from None
        messages, is_chat = self._split(output, template)
        if template.chat is not None and template.chat != is_chat:
            raise PromptError(
                f"prompt {template.name!r} ({template.path}): its front matter says chat: "
                f"{str(template.chat).lower()}, but it renders {'to chat turns' if is_chat else 'as plain text'}"
            )
        if not is_chat and template.chat is None and template.name not in self._checked:
            self._checked.add(template.name)
            _warn_of_capitalised_role_lines(template)
        return RenderedPrompt(
            name=template.name,
            messages=messages,
            versions=(self.version(template.name),),
            settings=types.MappingProxyType(dict(template.settings)),
            is_chat=is_chat,
        )

    def version(self, name: str) -> PromptVersion:
        """The version of ``name``: hash of it and of what it includes, and declared version."""
        template = self._template(name)
        if template.name not in self._versions:
            digest = hashlib.sha256()
            for dependency in sorted(self._dependencies(template.name)):
                digest.update(dependency.encode() + b"\0" + self._template(dependency).raw.encode() + b"\0")
            self._versions[template.name] = PromptVersion(
                template.name, digest.hexdigest()[:HASH_LENGTH], template.version
            )
        return self._versions[template.name]

    def describe(self, name: str) -> str | None:
        """The ``description`` of ``name``'s front matter."""
        return self._template(name).description

    # -- loading -------------------------------------------------------------------------

    def _template(self, name: str) -> _Template:
        _check_name(name)
        canonical = self._canonical.get(name)
        if canonical is None:  # found once: a judge renders its template for every vote
            path, root = self._locate(name)
            canonical = path.relative_to(root).with_suffix("").as_posix()
            if canonical not in self._templates:
                self._templates[canonical] = _read(canonical, path)
            self._canonical[name] = canonical  # only once read: other threads may look it up
        return self._templates[canonical]

    def has(self, name: str) -> bool:
        """Whether a template ``name`` exists (in the folder or the fallback)."""
        return self._find(name) is not None

    def _locate(self, name: str) -> tuple[Path, Path]:
        found = self._find(name)
        if found is None:
            known = ", ".join(self.names()) or f"none (no template files in {self.folder})"
            raise PromptError(f"unknown prompt template {name!r}; templates found: {known}")
        return found

    def _find(self, name: str) -> tuple[Path, Path] | None:
        for root in self.roots:
            for candidate in (root / name, *(root / f"{name}{s}" for s in TEMPLATE_SUFFIXES)):
                resolved = candidate.resolve()
                if not resolved.is_relative_to(root):
                    raise PromptError(
                        f"template {name!r} leaves the prompts folder {self.folder}: "
                        "templates may only include templates inside it"
                    )
                if _is_template(resolved):
                    return resolved, root
        return None

    def _dependencies(self, name: str) -> set[str]:
        """``name`` and every template it reaches by include/extends/import."""
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            template = self._template(current)
            try:
                tree = self._env.parse(_jinja_source(template.raw), template.name, str(template.path))
            except jinja2.TemplateSyntaxError as error:
                raise _syntax_error(error) from None
            for reference in jinja2.meta.find_referenced_templates(tree):
                if reference is None:  # a name computed at render time: any template may be used
                    return set(self.names())
                pending.append(self._template(reference).name)
        return seen

    # -- chat turns ----------------------------------------------------------------------

    def _turn(self, role: str) -> str:
        """Jinja global ``turn(role)``: starts a chat turn whose role is computed."""
        if role not in ROLES:
            raise ValueError(f"unknown chat role {role!r}; expected one of {', '.join(ROLES)}")
        return f"{self._marker}{role}\x00"

    def _split(self, output: str, template: _Template) -> tuple[tuple[Message, ...], bool]:
        parts = output.split(self._marker)
        if len(parts) == 1:
            return (Message("user", output.strip()),), False
        if parts[0].strip():
            raise PromptError(
                f"prompt {template.name!r} ({template.path}): text before the first role line; "
                "start chat templates with a 'system:', 'user:' or 'assistant:' line"
            )
        messages = []
        for part in parts[1:]:
            role, _, content = part.partition("\x00")
            if content.strip():
                messages.append(Message(role, content.strip()))
        return tuple(messages), True


def _passed(error: jinja2.UndefinedError, variables: Mapping[str, Any]) -> str:
    """The variables a render was given, with the one an undefined name likely meant."""
    passed = f"you passed: {', '.join(sorted(variables))}" if variables else "you passed no variables"
    undefined = _UNDEFINED_NAME.fullmatch(str(error))
    close = difflib.get_close_matches(undefined[1], list(variables), n=1) if undefined else []
    return f"did you mean {close[0]!r}? {passed}" if close else passed


def _warn_of_capitalised_role_lines(template: _Template) -> None:
    """Warn, at its file and line, of a plain-text template's first line like ``User:``: its
    author likely meant a chat turn, and role lines are lowercase."""
    match = _FRONT_MATTER.match(template.raw)
    start = 0 if match is None else match.end()
    for line in _ROLE_LIKE_LINE.finditer(template.raw, start):
        role = line[1].lower()
        if line[1] != role:
            number = template.raw.count("\n", 0, line.start()) + 1
            message = (
                f"prompt template {template.path}, line {number}: {line[0].strip()!r} looks like a chat "
                f"role line, but role lines are lowercase, so the template renders as plain text (one "
                f"user turn). Write '{role}:' to start a turn, or put 'chat: false' in its front matter "
                "if it is plain text on purpose."
            )
            warnings.warn_explicit(message, PromptWarning, str(template.path), number)
            return


def _check_name(name: object) -> None:
    """A template name is a path of names inside the prompts folder: each part one file's name."""
    parts = [part for part in name.split("/") if part] if isinstance(name, str) and name else [name]
    for part in parts:
        problem = name_problem(part)
        if problem is not None:
            subject = "it" if part == name else f"its part {part!r}"
            raise PromptError(f"bad prompt template name {name!r}: {subject} {problem}")


def _is_template(path: Path) -> bool:
    try:
        return path.is_file() and path.suffix in TEMPLATE_SUFFIXES
    except OSError:  # too long once a suffix is added: no such file
        return False


class _Loader(jinja2.BaseLoader):
    """Loads templates through the library, so include/extends stay inside its folders."""

    def __init__(self, library: PromptLibrary) -> None:
        self.library = library

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        found = self.library._template(template)
        return _jinja_source(found.raw), str(found.path), lambda: True


def _read(name: str, path: Path) -> _Template:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PromptError(f"cannot read prompt template {path}: {error}") from None
    meta = _front_matter(raw, path)
    version = meta.get("version")
    return _Template(
        name=name,
        path=path,
        raw=raw,
        version=None if version is None else str(version),
        description=meta.get("description"),
        settings=_settings(meta, path),
        chat=meta.get("chat"),
    )


def _settings(meta: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The generation settings of front matter ``meta``, checked; a key without a value is unset."""
    given = {key: value for key, value in meta.items() if key in RULES and value is not None}
    try:
        return checked(given, f"{path}: front matter")
    except GenerationSettingError as error:
        raise PromptError(str(error)) from None


def _front_matter(raw: str, path: Path) -> dict[str, Any]:
    match = _FRONT_MATTER.match(raw)
    if match is None:
        return {}
    import yaml

    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        raise PromptError(f"{path}: front matter is not valid YAML: {error}") from None
    if not isinstance(meta, dict):
        raise PromptError(f"{path}: front matter must be a mapping of keys to values")
    unknown = sorted(str(k) for k in meta if k not in _FRONT_MATTER_KEYS)
    if unknown:
        raise PromptError(
            f"{path}: unknown front matter key(s) {', '.join(unknown)}; known: {', '.join(_FRONT_MATTER_KEYS)}"
        )
    if meta.get("description") is not None and not isinstance(meta["description"], str):
        raise PromptError(f"{path}: front matter description must be text")
    if meta.get("chat") is not None and not isinstance(meta["chat"], bool):
        raise PromptError(f"{path}: front matter chat must be true or false")
    return meta


def _jinja_source(raw: str) -> str:
    """The source Jinja compiles: front matter as a comment, role lines as ``turn()`` calls.

    Both keep every line where it was, so error line numbers match the file.
    """
    match = _FRONT_MATTER.match(raw)
    head, body = ("", raw) if match is None else (match.group(0), raw[match.end() :])
    body = _ROLE_LINE.sub(lambda m: f'{{{{ turn("{m.group(1)}") }}}}', body)
    return ("{#" + "\n" * head.count("\n") + "#}" if head else "") + body


def _syntax_error(error: jinja2.TemplateSyntaxError) -> PromptError:
    return PromptError(f"{error.filename or error.name}, line {error.lineno}: template syntax error: {error.message}")


def _location(error: BaseException, roots: tuple[Path, ...], template: _Template) -> str:
    """``file, line N`` of the innermost template frame of ``error``'s traceback."""
    where = f"{template.path}"
    for filename, line in _frames(error.__traceback__):
        if any(Path(filename).is_relative_to(root) for root in roots) and Path(filename).suffix in TEMPLATE_SUFFIXES:
            where = f"{filename}, line {line}"
    return where


def _frames(tb: types.TracebackType | None) -> Iterator[tuple[str, int]]:
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next


class PromptRenderer:
    """The ``prompt`` fixture: renders templates and notes their versions on the test record.

    ``variant`` (an A/B variant) may render another version of a template than the one named.
    """

    def __init__(self, library: PromptLibrary, record: TestRecord, variant: Variant | None = None) -> None:
        self.library = library
        self._record = record
        self._variant = variant

    def __repr__(self) -> str:
        return f"<prompt renderer of {self.library.folder}>"

    def __call__(self, name: str, /, **variables: Any) -> RenderedPrompt:
        """Render template ``name`` with ``variables`` (all required ones; no defaults)."""
        if self._variant is not None:
            name = self._variant.template(name, self.library.has)
        rendered = self.library.render(name, **variables)
        note_rendered(self._record, rendered)
        return rendered

    def names(self) -> list[str]:
        """The names of every template this test can render."""
        return self.library.names()


def note_rendered(record: TestRecord, rendered: RenderedPrompt) -> None:
    """Note on ``record`` the template version ``rendered`` came from, and its text (the
    snapshot keeps it, so a report can diff a changed prompt against it; secrets redacted)."""
    from pytest_llmops._redact import redact

    record.add_prompt(rendered.version.to_dict(), text=redact(rendered.text))
