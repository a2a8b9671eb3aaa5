"""The endpoints beside /graphql: liveness, readiness and Prometheus metrics."""

import ipaddress
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from models.health import readiness, readiness_status
from resolvers.observability import render_metrics
from schema.refusals import Refusal
from settings import Settings


async def healthz(_request: Request) -> Response:
    """The process is alive (the container's HEALTHCHECK)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready to serve: the database answers at the newest migration. 503 otherwise, so that a
    load balancer sends no traffic here. Redis down is "degraded" but still 200: every
    instance shares it and each keeps serving without it."""
    state = request.app.state
    if state.drain.started:
        # SIGTERM: still serving, but the load balancer should stop sending requests here.
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    checks = await readiness(state.database, state.redis, state.migration_head)
    status = readiness_status(checks)
    body = {
        "status": status,
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
    }
    return JSONResponse(body, status_code=503 if status == "not ready" else 200)


async def metrics(request: Request) -> Response:
    """Prometheus metrics, for the networks in QUIRE_METRICS_ALLOW only (404 for others)."""
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else None
    if not _address_in(client, settings.metrics_networks):
        return Refusal.coded(404, "Not Found", "NOT_FOUND").response()
    body, media_type = render_metrics()
    return Response(body, media_type=media_type)


def _address_in(address: str | None, networks: Sequence[Any]) -> bool:
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(parsed in network for network in networks)
