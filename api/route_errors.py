"""The error answers routes declare in OpenAPI, each text written once.

A route merges the ones it can give: ``responses={**QUERY_ERRORS, 200: {...}}``. The
statuses themselves come from :mod:`api.errors`; these are only their documentation.
"""

from __future__ import annotations

from typing import Any

Responses = dict[int | str, dict[str, Any]]

INVALID_PARAMETER: Responses = {422: {"description": "A parameter is invalid; the detail names it"}}
INVALID_FIELD: Responses = {422: {"description": "A field is invalid; the detail names it"}}
STALE_VERSION: Responses = {
    412: {"description": "If-Match names a version that is no longer current"}
}
INFLUX_DOWN: Responses = {503: {"description": "InfluxDB does not answer"}}

# The history routes: a bad parameter, or InfluxDB away.
QUERY_ERRORS: Responses = {**INVALID_PARAMETER, **INFLUX_DOWN}
# The versioned writes: a stale If-Match, or a bad field.
WRITE_ERRORS: Responses = {**STALE_VERSION, **INVALID_FIELD}
