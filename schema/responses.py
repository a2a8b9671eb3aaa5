"""GraphQL over HTTP: the status and media type of a response, decided from the execution
results while they are still objects (never by decoding the encoded body again).

A client that accepts `application/graphql-response+json` gets that media type, and a request
whose operation never executed (a syntax or validation error, or a refusal before execution)
is 400 with no `data` entry at all. Clients asking for plain JSON keep the legacy 200."""

import math
import time
from dataclasses import dataclass
from typing import Any

from limits import parse
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import ExecutionResult

from resolvers.rate_limits import Spending
from settings import Settings

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one operation of a request came to."""

    executed: bool  # got past parsing and validation
    errors: bool

    @classmethod
    def of(cls, result: ExecutionResult) -> "Outcome":
        errors = list(result.errors or ())
        executed = result.data is not None or any(error.path for error in errors)
        return cls(executed=executed, errors=bool(errors))


def accepts_graphql_response(request: Request) -> bool:
    return GRAPHQL_RESPONSE_JSON in request.headers.get("accept", "")


def record_outcome(request: Request, result: ExecutionResult, body: dict[str, Any]) -> None:
    """Keeps what the response's status and headers depend on, and drops `data` from the body
    of an operation that never executed (Strawberry writes `"data": null`)."""
    outcome = Outcome.of(result)
    outcomes: list[Outcome] = getattr(request.state, "outcomes", [])
    request.state.outcomes = [*outcomes, outcome]
    if not outcome.executed and accepts_graphql_response(request):
        body.pop("data", None)


def outcomes_of(request: Request) -> list[Outcome]:
    return list(getattr(request.state, "outcomes", []))


def finish_response(request: Request, response: Response) -> Response:
    """Media type and status for the client's Accept header (see the module's docstring)."""
    if not accepts_graphql_response(request) or response.media_type == "text/html":
        return response
    if not response.headers.get("content-type", "").startswith("application/json"):
        return response
    response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
    outcomes = outcomes_of(request)
    if response.status_code == 200 and len(outcomes) == 1 and not outcomes[0].executed:
        response.status_code = 400
    return response


def rate_limit_policy(settings: Settings) -> str | None:
    """The RateLimit-Policy field (IETF httpapi ratelimit-headers draft): each budget's quota
    and window in seconds. The same for every caller."""
    if not settings.rate_limit_enabled:
        return None
    budgets = {"operations": settings.rate_limit_operations, "cost": settings.rate_limit_cost}
    items = {name: parse(value) for name, value in budgets.items()}
    return ", ".join(
        f'"{name}";q={item.amount};w={item.get_expiry()}' for name, item in items.items()
    )


def rate_limit_headers(spending: Spending) -> dict[str, str]:
    """The RateLimit field: what is left of the caller's budgets and the seconds until each
    window resets. Per caller, so never on a response a shared cache may keep."""
    now = time.time()
    budgets = {"operations": spending.operations, "cost": spending.cost}
    state = ", ".join(
        f'"{name}";r={budget.remaining};t={max(0, math.ceil(budget.reset_at - now))}'
        for name, budget in budgets.items()
    )
    return {"ratelimit": state}
