"""Records of a compacted topic whose value names its own key, and the table they fill.

A record is used only if its key parses and its value decodes and names that same key;
anything else is logged and skipped, so one bad record never stops a store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from contracts.errors import ContractError

logger = logging.getLogger(__name__)

K = TypeVar("K")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeyedRecord(Generic[K, T]):
    """One decoded record of a compacted topic; ``value`` is ``None`` for a tombstone."""

    key: K
    value: T | None


def text_key(key: bytes) -> str:
    return key.decode(errors="replace")


def decode_keyed(
    key: bytes | None,
    value: bytes | None,
    *,
    parse_key: Callable[[bytes], K],
    decode: Callable[[bytes], T],
    key_of: Callable[[T], K],
    what: str,
) -> KeyedRecord[K, T] | None:
    """Decode one record whose value must name its own key; ``None`` (logged) if unusable.
    ``parse_key`` raises :class:`ContractError` for a key of the wrong shape."""
    if key is None:
        logger.warning("%s record without a key ignored", what)
        return None
    try:
        parsed = parse_key(key)
        decoded = decode(value) if value is not None else None
    except ContractError as exc:
        logger.warning("%s record ignored key=%r error=%s", what, key, exc)
        return None
    if decoded is not None and key_of(decoded) != parsed:
        logger.warning("%s record ignored key=%r reason=value names %s", what, key, key_of(decoded))
        return None
    return KeyedRecord(parsed, decoded)


class KeyedTable(Generic[K, T]):
    """Key -> the latest value, applied in offset order; a tombstone removes the key.

    Subclasses that keep their values otherwise, or indexes beside them, override
    :meth:`put` and :meth:`remove` (and what reads them).
    """

    def __init__(
        self,
        *,
        parse_key: Callable[[bytes], K],
        decode: Callable[[bytes], T],
        key_of: Callable[[T], K],
        what: str,
    ) -> None:
        self._by_key: dict[K, T] = {}
        self._parse_key = parse_key
        self._decode = decode
        self._key_of = key_of
        self._what = what

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[K]:
        return iter(self._by_key)

    def get(self, key: K) -> T | None:
        return self._by_key.get(key)

    def values(self) -> list[T]:
        return list(self._by_key.values())

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        record = decode_keyed(
            key,
            value,
            parse_key=self._parse_key,
            decode=self._decode,
            key_of=self._key_of,
            what=self._what,
        )
        if record is None:
            return
        if record.value is None:
            self.remove(record.key)
        else:
            self.put(record.value)

    def put(self, value: T) -> None:
        self._by_key[self._key_of(value)] = value

    def remove(self, key: K) -> None:
        self._by_key.pop(key, None)
