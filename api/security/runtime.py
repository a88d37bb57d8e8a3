"""The security parts of one API process, started after :mod:`api.services`."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from api.auth.authenticator import Authenticator
from api.auth.tokens import TokenIssuer
from api.auth.user_store import UserStore
from api.security.audit import AuditLog
from api.security.metrics import ApiMetrics
from api.security.ratelimit import RateLimiter, RouteClass
from api.services import Services
from api.settings import ApiSettings
from kafka_edge.connection import KafkaConnection

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SecurityServices:
    auth: Authenticator
    users: UserStore
    limiter: RateLimiter | None
    audit: AuditLog
    metrics: ApiMetrics


def rate_limits(settings: ApiSettings) -> dict[RouteClass, str]:
    return {
        RouteClass.read: settings.rate_limit_read,
        RouteClass.write: settings.rate_limit_write,
        RouteClass.ingest: settings.rate_limit_ingest,
        RouteClass.login: settings.rate_limit_login,
        RouteClass.login_ip: settings.rate_limit_login_ip,
        RouteClass.login_user: settings.rate_limit_login_user,
        RouteClass.auth_failures: settings.rate_limit_auth_failures,
    }


def jwt_secret(settings: ApiSettings) -> str:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    # Only reachable in development (api.security.startup refuses this in production).
    logger.warning(
        "MILLSTREAM_API_JWT_SECRET not set: using a random secret; login tokens end with this "
        "process and are not accepted by other replicas"
    )
    return secrets.token_urlsafe(48)


@contextlib.asynccontextmanager
async def running_security(
    settings: ApiSettings, services: Services, metrics: ApiMetrics
) -> AsyncIterator[SecurityServices]:
    users = UserStore(
        kafka=KafkaConnection.from_settings(settings),
        topic=settings.topics.users,
        publisher=services.publisher,
    )
    audit = AuditLog(
        publisher=services.publisher,
        topic=settings.topics.audit,
        influx_url=settings.influx_url,
        influx_token=settings.influx_token.get_secret_value(),
        influx_org=settings.influx_org,
        metrics=metrics,
        queue_records=settings.audit_queue_records,
        batch_records=settings.audit_batch_records,
        flush_interval_s=settings.audit_flush_interval_s,
        query_timeout_s=settings.influx_query_timeout_s,
        enabled=settings.audit_enabled,
    )
    limiter = (
        RateLimiter(storage_uri=settings.rate_limit_storage_uri, limits=rate_limits(settings))
        if settings.rate_limit_enabled
        else None
    )
    async with contextlib.AsyncExitStack() as stack:
        await users.start(timeout_s=settings.startup_timeout_s)
        stack.push_async_callback(users.stop)
        if settings.admin_password is not None:
            await users.ensure_admin(
                settings.admin_username, settings.admin_password.get_secret_value()
            )
        await audit.start()
        stack.push_async_callback(audit.stop)
        tokens = TokenIssuer(secret=jwt_secret(settings), ttl_s=settings.jwt_ttl_s)
        yield SecurityServices(
            auth=Authenticator(keys=services.keys, users=users, tokens=tokens),
            users=users,
            limiter=limiter,
            audit=audit,
            metrics=metrics,
        )
