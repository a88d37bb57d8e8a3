"""How a refused devices file is explained: pydantic's and YAML's errors as one line that
names the field, the register and the value, e.g. ``registers[1].type: must be one of
..., (got 'float') (register temperature_c)``."""

from __future__ import annotations

from collections.abc import Mapping

import yaml
from pydantic_core import ErrorDetails


def first_error(error: ErrorDetails, raw: Mapping[str, object]) -> tuple[str, str]:
    """``(field, message)`` of one pydantic error about the device entry ``raw``."""
    field = ""
    loc = error["loc"]
    for part in loc:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    kind = error["type"]
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = f"unknown option (got {quoted(error.get('input'))})"
    elif kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        # A field's own check names the value here; a check across fields names it itself.
        if "input" in error and not isinstance(error["input"], dict):
            shown = quoted(error["input"])
            if not message.startswith(shown):
                message += f" (got {shown})"
    elif kind == "too_short":
        message = f"must not be empty (got {quoted(error.get('input'))})"
    else:
        message = _lower_first(error["msg"]).replace("input should be", "must be", 1)
        if "input" in error:
            message += f" (got {quoted(error['input'])})"
    if len(loc) >= 2 and loc[0] == "registers" and isinstance(loc[1], int):
        message = _with_register_name(message, raw, loc[1])
    head, sep, rest = message.partition(": ")
    if kind == "value_error" and sep and head.isidentifier():
        # A check across fields names the field it is about: "type: ...".
        field, message = (f"{field}.{head}" if field else head), rest
    return field or "device", message


def _with_register_name(message: str, raw: Mapping[str, object], index: int) -> str:
    """Name the register (tag) in a message about ``registers[index]``."""
    regs = raw.get("registers")
    if isinstance(regs, list) and index < len(regs) and isinstance(regs[index], Mapping):
        name = regs[index].get("name")
        if isinstance(name, str) and name:
            return f"{message} (register {name})"
    return message


def quoted(value: object, *, limit: int = 60) -> str:
    """``value`` as an error message quotes it: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What YAML could not parse, and where (line and column from 1)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)
