"""Which InfluxDB holds which plant: the ``MILLSTREAM_INFLUX_PLANTS`` map, with one default.

The map is a JSON object, plant name to server; a server is its URL, or an object with
``url`` and, optionally, ``org`` and ``token_env``, the name of the variable that holds its
token (so the map itself carries no secret)::

    MILLSTREAM_INFLUX_PLANTS='{"hall-a": "http://192.0.2.10:8086",
      "hall-b": {"url": "https://192.0.2.11:8086", "org": "hall-b",
                 "token_env": "MILLSTREAM_INFLUX_TOKEN_HALL_B"}}'

A server without ``org`` or ``token_env`` uses ``MILLSTREAM_INFLUX_ORG`` and
``MILLSTREAM_INFLUX_TOKEN``. Plants not in the map, and points without a plant, live on
the default server (``MILLSTREAM_INFLUX_URL``); audit points always do. Unset or ``{}``:
one server for everything. Each server has the same buckets (``infra`` creates them on
the default; on the others, as for InfluxDB Cloud or Enterprise, their operator does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

PLANTS_VAR = "MILLSTREAM_INFLUX_PLANTS"
_URL = re.compile(r"https?://[^\s/?#@]+(?:/[^\s?#]*)?")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_PLANT = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_SERVER_KEYS = frozenset(("url", "org", "token_env"))


@dataclass(frozen=True, slots=True)
class InfluxServer:
    """One InfluxDB: where it is, its org and its token."""

    url: str
    org: str
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class PlantServer:
    """A server of the map as written: ``org`` and ``token_env`` empty take the default's."""

    url: str
    org: str = ""
    token_env: str = ""

    def server(self, default: InfluxServer, environ: Mapping[str, str]) -> InfluxServer:
        token = environ.get(self.token_env, "") if self.token_env else default.token
        return InfluxServer(url=self.url, org=self.org or default.org, token=token)


def parse_plant_map(
    raw: object, environ: Mapping[str, str] | None = None
) -> dict[str, PlantServer]:
    """The map from its JSON text (or an already parsed object); a ``ValueError`` that names
    the plant and the value at fault."""
    if isinstance(raw, Mapping) and all(isinstance(v, PlantServer) for v in raw.values()):
        return dict(raw)
    env = os.environ if environ is None else environ
    obj: object = raw
    if isinstance(raw, str | bytes):
        if not raw.strip():
            return {}
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(
                f"{raw!r} is not JSON; write a JSON object of plant to URL, e.g. "
                '{"hall-a": "http://192.0.2.10:8086"}'
            ) from exc
    if not isinstance(obj, Mapping):
        raise ValueError(f"{raw!r} is not a JSON object of plant to InfluxDB URL")
    return {_plant(plant): _server(plant, value, env) for plant, value in obj.items()}


def _plant(plant: object) -> str:
    if not isinstance(plant, str) or not _PLANT.fullmatch(plant):
        raise ValueError(f"{plant!r} is not a plant name (1-200 printable characters)")
    return plant


def _server(plant: str, value: object, environ: Mapping[str, str]) -> PlantServer:
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"{plant}: {value!r} is neither a URL nor an object with url")
    unknown = sorted(set(value) - _SERVER_KEYS)
    if unknown:
        raise ValueError(f"{plant}: unknown key {unknown[0]!r}; the keys are url, org, token_env")
    url, org, token_env = (value.get(key, "") for key in ("url", "org", "token_env"))
    if not isinstance(url, str) or not _URL.fullmatch(url):
        raise ValueError(f"{plant}: url {url!r} is not an http(s) URL like http://192.0.2.10:8086")
    if not isinstance(org, str):
        raise ValueError(f"{plant}: org {org!r} is not a string")
    if not isinstance(token_env, str) or (token_env and not _VARIABLE.fullmatch(token_env)):
        raise ValueError(f"{plant}: token_env {token_env!r} is not a variable name")
    if token_env and not environ.get(token_env):
        raise ValueError(f"{plant}: token_env names {token_env}, which is not set")
    return PlantServer(url=url.rstrip("/"), org=org, token_env=token_env)


@dataclass(frozen=True, slots=True)
class PlantServers:
    """The servers of a deployment: the default, and the one of each plant in the map."""

    default: InfluxServer
    by_plant: Mapping[str, InfluxServer] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        default: InfluxServer,
        plants: Mapping[str, PlantServer],
        environ: Mapping[str, str] | None = None,
    ) -> PlantServers:
        env = os.environ if environ is None else environ
        return cls(default, {plant: s.server(default, env) for plant, s in plants.items()})

    def for_plant(self, plant: str | None) -> InfluxServer:
        """The server holding ``plant``'s points: the default for a plant not in the map."""
        if not plant:
            return self.default
        return self.by_plant.get(plant, self.default)

    @property
    def servers(self) -> tuple[InfluxServer, ...]:
        """Every distinct server, the default first."""
        return tuple(dict.fromkeys((self.default, *self.by_plant.values())))
