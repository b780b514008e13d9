"""Tool calling and structured outputs: the tool calls a model makes, and the checks of what a
call may ask for (``tools``, ``tool_choice``, ``parallel_tool_calls``, ``response_format``).

The checks are the rules of :mod:`pytest_llmops._models.generation`'s table: each returns the
value as used (a JSON copy: what the recording key holds) or raises ``ValueError`` saying why.
Tools and response formats take the OpenAI shapes, which every OpenAI-compatible server and
most chat templates read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

#: What a tool's (and a JSON Schema response format's) name may be: OpenAI's rule.
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOOL_CHOICES = ("auto", "none", "required")
RESPONSE_TYPES = ("text", "json_object", "json_schema")
#: Most schema violations named when a structured answer is refused.
MOST_VIOLATIONS = 5


class _NonStandardNumber(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


def _refuse_constant(constant: str) -> Any:
    """Python's json reads NaN, Infinity and -Infinity; standard JSON (RFC 8259) has none of them."""
    raise _NonStandardNumber(constant)


def standard_json(text: str) -> tuple[Any, str | None]:
    """The JSON value of ``text`` and None, or None and why it is not standard JSON."""
    try:
        return json.loads(text, parse_constant=_refuse_constant), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
    except _NonStandardNumber as error:
        return None, f"not valid JSON: {error.constant} is not a JSON number"


@dataclass(frozen=True)
class ToolCall:
    """One tool call of a model's answer: its id, the tool's name and the arguments as parsed
    JSON. Arguments that are not valid JSON are kept as the model wrote them (text), and
    ``error`` says why: the model answered badly, and the tool metrics report it."""

    id: str
    name: str
    arguments: Any
    error: str | None = None

    @classmethod
    def parsed(cls, id: str, name: str, text: str) -> ToolCall:  # noqa: A002 - the API's own name
        """A call whose arguments are the JSON ``text`` a server sent."""
        value, error = standard_json(text)
        return cls(id, name, text if error else value, error and f"arguments are {error}")

    @property
    def arguments_text(self) -> str:
        """The arguments as JSON text, as a conversation sends the call back (raw when malformed)."""
        if self.error is not None and isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)

    def describe(self) -> str:
        """``name({...})`` for messages: the arguments short, the problem named."""
        text = self.arguments_text
        text = text if len(text) <= 80 else text[:77] + "..."
        return f"{self.name}({text})" + (f" [{self.error}]" if self.error else "")

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "name": self.name, "arguments": self.arguments}
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        """Ours (``{id, name, arguments}``) or the OpenAI shape (``{id, type, function: {name,
        arguments: "<JSON text>"}}``)."""
        function = data.get("function")
        if isinstance(function, Mapping):
            arguments = function.get("arguments", "{}")
            if isinstance(arguments, str):
                return cls.parsed(str(data.get("id", "")), str(function.get("name", "")), arguments)
            return cls(str(data.get("id", "")), str(function.get("name", "")), arguments)
        error = data.get("error")
        return cls(str(data["id"]), str(data["name"]), data.get("arguments", {}), None if error is None else str(error))

    def to_openai(self) -> dict[str, Any]:
        """The call as an assistant message of the Chat Completions API carries it."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments_text}}


def _json_copy(value: Any, what: str) -> Any:
    """``value`` as plain JSON data (a copy), or ValueError when it holds something JSON has not."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} is not JSON data ({error})") from None


def _schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a JSON Schema (None when it is)."""
    if not isinstance(schema, Mapping):
        return f"a JSON Schema is a mapping, not {type(schema).__name__}"
    from jsonschema import exceptions, validators  # loaded by the first call that names a schema

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as error:
        return f"not a valid JSON Schema: {error.message}"
    return None


def _name_of(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ValueError(f"{what} must be 1-64 letters, digits, _ or -, not {value!r}")
    return value


def _only(data: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise ValueError(f"{what} has unknown key(s) {', '.join(unknown)} (it takes {', '.join(allowed)})")


def check_tools(value: Any) -> tuple[dict[str, Any], ...]:
    """A non-empty list of ``{"type": "function", "function": {"name", "description",
    "parameters", "strict"}}`` tools with distinct names, each's parameters a JSON Schema."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise ValueError(f"tools must be a list of tools, not {type(value).__name__}")
    if not value:
        raise ValueError("tools is an empty list (leave it out for a call without tools)")
    names: set[str] = set()
    for position, tool in enumerate(value, 1):
        what = f"tool {position}"
        if not isinstance(tool, Mapping):
            raise ValueError(f"{what} must be a mapping, not {type(tool).__name__}")
        _only(tool, ("type", "function"), what)
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, Mapping):
            raise ValueError(f'{what} must be {{"type": "function", "function": {{"name": ..., "parameters": ...}}}}')
        _only(function, ("name", "description", "parameters", "strict"), f"{what}'s function")
        name = _name_of(function.get("name"), f"{what}'s name")
        if name in names:
            raise ValueError(f"two tools are named {name!r}")
        names.add(name)
        if "description" in function and not isinstance(function["description"], str):
            raise ValueError(f"{name}'s description must be text")
        if "strict" in function and not isinstance(function["strict"], bool):
            raise ValueError(f"{name}'s strict must be true or false")
        if "parameters" in function:
            problem = _schema_problem(function["parameters"])
            if problem:
                raise ValueError(f"{name}'s parameters are {problem}")
    return tuple(_json_copy(list(value), "tools"))


def check_tool_choice(value: Any) -> str | dict[str, Any]:
    """``auto``, ``none``, ``required`` or ``{"type": "function", "function": {"name": ...}}``."""
    if isinstance(value, str):
        if value not in TOOL_CHOICES:
            raise ValueError(f"tool_choice {value!r} is none of {', '.join(TOOL_CHOICES)}")
        return value
    function = value.get("function") if isinstance(value, Mapping) else None
    if not isinstance(value, Mapping) or value.get("type") != "function" or not isinstance(function, Mapping):
        raise ValueError('tool_choice must be auto, none, required or {"type": "function", "function": {"name": ...}}')
    return {"type": "function", "function": {"name": _name_of(function.get("name"), "tool_choice's name")}}


def check_response_format(value: Any) -> dict[str, Any]:
    """``{"type": "text"}``, ``{"type": "json_object"}`` or ``{"type": "json_schema",
    "json_schema": {"name", "schema", "strict", "description"}}``."""
    if not isinstance(value, Mapping) or value.get("type") not in RESPONSE_TYPES:
        raise ValueError(f"response_format must be a mapping whose type is one of {', '.join(RESPONSE_TYPES)}")
    kind = value["type"]
    if kind != "json_schema":
        _only(value, ("type",), "response_format")
        return {"type": kind}
    _only(value, ("type", "json_schema"), "response_format")
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping):
        raise ValueError('a json_schema response_format needs "json_schema": {"name": ..., "schema": {...}}')
    _only(spec, ("name", "schema", "strict", "description"), "response_format's json_schema")
    _name_of(spec.get("name"), "response_format's json_schema name")
    if "schema" not in spec:
        raise ValueError("response_format's json_schema has no schema")
    problem = _schema_problem(spec["schema"])
    if problem:
        raise ValueError(f"response_format's schema is {problem}")
    if "strict" in spec and not isinstance(spec["strict"], bool):
        raise ValueError("response_format's strict must be true or false")
    return dict(_json_copy(dict(value), "response_format"))


def inconsistency(values: Mapping[str, Any]) -> str | None:
    """What contradicts what among a request's checked settings (a ``tool_choice`` naming a tool
    it does not offer, say); None when nothing does."""
    tools, choice = values.get("tools"), values.get("tool_choice")
    if tools and values.get("stream"):
        return "stream=True with tools= is not supported: a streamed answer's tool calls are not read"
    if values.get("parallel_tool_calls") is not None and not tools:
        return "parallel_tool_calls is set but the call offers no tools"
    if choice is None or choice == "none":
        return None
    if not tools:
        return f"tool_choice {json.dumps(choice)} needs tools= to choose from"
    if isinstance(choice, Mapping):
        name = choice["function"]["name"]
        offered = [tool["function"]["name"] for tool in tools]
        if name not in offered:
            return f"tool_choice names {name!r}, which is not among the tools ({', '.join(offered)})"
    return None


def answer_problem(response_format: Mapping[str, Any], text: str) -> str | None:
    """Why ``text`` does not answer in ``response_format`` (None when it does, or for ``text``)."""
    kind = response_format.get("type")
    if kind == "text":
        return None
    name = response_format.get("json_schema", {}).get("name")
    wanted = f"the {name!r} JSON Schema" if kind == "json_schema" else "a JSON object"
    value, problem = standard_json(text)
    if problem:
        return f"the answer is {problem} (response_format asks for {wanted})"
    if kind == "json_object":
        return None if isinstance(value, dict) else f"the answer is a JSON {type(value).__name__}, not {wanted}"
    from jsonschema import validators  # loaded by the first structured answer

    schema = response_format["json_schema"]["schema"]
    errors = sorted(validators.validator_for(schema)(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    shown = [f"{json_path(e.absolute_path)}: {e.message}" for e in errors[:MOST_VIOLATIONS]]
    more = f" (and {len(errors) - MOST_VIOLATIONS} more)" if len(errors) > MOST_VIOLATIONS else ""
    return f"the answer does not match {wanted} of response_format: {'; '.join(shown)}{more}"


def json_path(parts: Any) -> str:
    """``$.items[0].name`` for a JSON Schema error's path."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
