"""Query parameters shared by routes."""

from __future__ import annotations

from collections.abc import Iterable

from api.errors import InvalidInputError


def comma_choices(
    name: str, values: Iterable[str] | None, allowed: frozenset[str]
) -> frozenset[str] | None:
    """The values of a repeatable, comma-separated parameter (``severity=high,critical``);
    ``None`` when none is given; an unknown value is a 422 naming the allowed ones."""
    chosen = frozenset(v for item in values or () for v in item.split(",") if v)
    unknown = sorted(chosen - allowed)
    if unknown:
        raise InvalidInputError(
            f"{name}: unknown value(s) {', '.join(map(repr, unknown))}; "
            f"one of {', '.join(sorted(allowed))}"
        )
    return chosen or None
