"""Per-client rate limits: operations and summed cost per window, 429 with Retry-After,
RATE_LIMITED, budgets reported in extensions and apiLimits, one budget across instances; the
operations of every client at one address, and sign-ups per address."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app import close_services, create_app
from models.database import Database
from models.tables import Role, users_table
from resolvers.rate_limits import address_group
from resolvers.tokens import issue_access_token
from settings import Settings
from tests.conftest import REDIS_URL, StatementLog, client_of
from tests.factories import create_user
from tests.test_events import served
from tests.wsclient import graphql_socket

# posts 1 + nodes 1 + 1 x (post 1 + title 1 + id 1): cost 5
QUERY = "{ posts(first: 1) { nodes { title id } } }"


async def post(client: httpx.AsyncClient, query: str = QUERY, **headers: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers)


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


async def test_operations_over_the_budget_get_429_with_retry_after(
    settings: Settings, database: Database
) -> None:
    statements = StatementLog()
    async with client_of(settings, log=statements, rate_limit_operations="3/minute") as client:
        for _ in range(3):
            assert (await post(client)).status_code == 200
        assert len(statements) == 3
        statements.statements.clear()
        refused = await post(client)
        metrics = (await client.get("/metrics")).text

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["budget"] == "operations"
    assert error["extensions"]["limit"] == 3
    assert "3 operations per minute" in error["message"]
    assert len(statements) == 0, statements.statements  # refused before any SQL
    assert 'quire_rate_limit_rejections_total{budget="operations"}' in metrics


async def test_invalid_documents_spend_from_the_budget_too(
    settings: Settings, database: Database
) -> None:
    async with client_of(settings, rate_limit_operations="2/minute") as client:
        assert (await post(client, "{ nope }")).status_code == 200
        assert (await post(client, "{")).status_code == 200
        assert (await post(client)).status_code == 429


async def test_users_and_addresses_have_budgets_of_their_own(
    settings: Settings, database: Database
) -> None:
    reader = await create_user(database, role=Role.READER)
    token, _ = issue_access_token(settings, user_id=reader, role=Role.READER)
    bearer = {"authorization": f"Bearer {token}"}
    async with client_of(settings, rate_limit_operations="2/minute") as client:
        for _ in range(2):
            assert (await post(client)).status_code == 200
        assert (await post(client)).status_code == 429
        # The same address, logged in: the user's own budget.
        assert (await post(client, **bearer)).status_code == 200
        assert (await post(client, **bearer)).status_code == 200
        assert (await post(client, **bearer)).status_code == 429


async def test_summed_cost_over_the_budget_is_refused(
    settings: Settings, database: Database
) -> None:
    async with client_of(settings, rate_limit_cost="12/minute") as client:
        first = await post(client)
        second = await post(client)
        refused = await post(client)

    assert budgets(first)["cost"][0] == 7
    assert budgets(second)["cost"][0] == 2
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["budget"] == "cost"
    assert error["extensions"]["requested"] == 5
    assert refused.json()["data"] is None


def budgets(response: httpx.Response) -> dict[str, tuple[int, int]]:
    """The RateLimit header field: budget -> (remaining, seconds until the window resets)."""
    found: dict[str, tuple[int, int]] = {}
    for item in response.headers["ratelimit"].split(","):
        name, *parameters = item.strip().split(";")
        values = dict(parameter.split("=") for parameter in parameters)
        found[name.strip('"')] = (int(values["r"]), int(values["t"]))
    return found


async def test_responses_report_the_remaining_budgets_in_headers(
    client: httpx.AsyncClient,
) -> None:
    first = await post(client)
    second = await post(client)

    assert first.headers["ratelimit-policy"] == ('"operations";q=600;w=60, "cost";q=200000;w=60')
    assert budgets(second)["operations"][0] == budgets(first)["operations"][0] - 1
    assert budgets(second)["cost"][0] == budgets(first)["cost"][0] - 5
    assert 0 < budgets(second)["cost"][1] <= 60
    assert "rateLimit" not in second.json()["extensions"]  # per caller: not in the body


async def test_api_limits_and_the_header_tell_the_same_reset_time(
    client: httpx.AsyncClient,
) -> None:
    query = "{ apiLimits { rateLimit { cost { resetAt } } } }"

    response = await client.post("/graphql", json={"query": query})

    reset_at = datetime.fromisoformat(
        response.json()["data"]["apiLimits"]["rateLimit"]["cost"]["resetAt"]
    )
    seconds = budgets(response)["cost"][1]
    assert abs((reset_at - datetime.now(UTC)).total_seconds() - seconds) <= 2


async def test_api_limits_report_the_callers_budget(client: httpx.AsyncClient) -> None:
    await post(client)
    query = (
        "{ apiLimits { rateLimit { operations { limit remaining } cost { limit remaining } } } }"
    )
    limits = (await post(client, query)).json()["data"]["apiLimits"]["rateLimit"]

    assert limits["operations"] == {"limit": 600, "remaining": 598}
    assert limits["cost"]["limit"] == 200_000
    # This query's own cost (8) is spent before it runs.
    assert limits["cost"]["remaining"] == 200_000 - 5 - 8


async def test_a_batch_spends_one_operation_per_operation(
    settings: Settings, database: Database
) -> None:
    batch = [{"query": QUERY}] * 3
    async with client_of(
        settings, rate_limit_operations="4/minute", max_batch_operations=5
    ) as client:
        assert (await client.post("/graphql", json=batch)).status_code == 200
        refused = await client.post("/graphql", json=batch)

    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["requested"] == 3


async def test_limits_off_report_no_budget(settings: Settings, database: Database) -> None:
    async with client_of(settings, rate_limit_enabled=False) as client:
        responses = [await post(client) for _ in range(3)]

    assert all(response.status_code == 200 for response in responses)
    assert "ratelimit" not in responses[-1].headers
    assert "ratelimit-policy" not in responses[-1].headers


async def test_two_instances_sharing_redis_spend_one_budget(
    settings: Settings, database: Database, redis_prefix: str
) -> None:
    shared: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
        "rate_limit_operations": "3/minute",
    }
    async with client_of(settings, **shared) as one, client_of(settings, **shared) as other:
        assert (await post(one)).status_code == 200
        assert (await post(other)).status_code == 200
        assert (await post(one)).status_code == 200
        assert (await post(other)).status_code == 429
        assert (await post(one)).status_code == 429


async def test_an_unreachable_redis_lets_requests_through(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_of(
        settings, redis_url="redis://127.0.0.1:1/0", rate_limit_operations="1/minute"
    ) as client:
        responses = [await post(client) for _ in range(2)]

    assert [response.status_code for response in responses] == [200, 200]
    assert responses[1].json()["data"]["posts"] == {"nodes": []}
    assert any("rate-limit storage unavailable" in r.getMessage() for r in caplog.records)


def test_rate_limit_settings_must_be_readable() -> None:
    with pytest.raises(ValueError, match="rate_limit_cost"):
        Settings(rate_limit_cost="lots", _env_file=None)


async def _bearer(settings: Settings, database: Database) -> dict[str, str]:
    reader = await create_user(database, role=Role.READER)
    token, _ = issue_access_token(settings, user_id=reader, role=Role.READER)
    return {"authorization": f"Bearer {token}"}


def _address_refusal(response: httpx.Response, requested: int = 1) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    error = response.json()["errors"][0]
    assert error["extensions"] == {
        "code": "RATE_LIMITED",
        "budget": "address",
        "limit": 3,
        "requested": requested,
        "retryAfter": int(response.headers["retry-after"]),
    }
    assert error["message"].startswith(
        "Rate limit exceeded: at most 3 operations from one address per minute; retry in "
    )


async def test_the_users_at_one_address_share_its_operations_budget(
    settings: Settings, database: Database
) -> None:
    ada, bob = await _bearer(settings, database), await _bearer(settings, database)
    async with client_of(settings, rate_limit_address_operations="3/minute") as client:
        assert (await post(client, **ada)).status_code == 200
        assert (await post(client, **bob)).status_code == 200
        assert (await post(client)).status_code == 200  # anonymous, from the same address
        refused = await post(client, **bob)
        metrics = (await client.get("/metrics")).text

    _address_refusal(refused)
    assert 'quire_rate_limit_rejections_total{budget="address"}' in metrics


async def test_gets_spend_from_the_address_budget(settings: Settings, database: Database) -> None:
    ada, bob = await _bearer(settings, database), await _bearer(settings, database)
    async with client_of(settings, rate_limit_address_operations="3/minute") as client:
        for headers in (ada, bob, ada):
            response = await client.get("/graphql", params={"query": QUERY}, headers=headers)
            assert response.status_code == 200
        refused = await client.get("/graphql", params={"query": QUERY}, headers=bob)

    _address_refusal(refused)


async def test_a_batch_spends_its_operations_from_the_address_budget(
    settings: Settings, database: Database
) -> None:
    ada, bob = await _bearer(settings, database), await _bearer(settings, database)
    batch = [{"query": QUERY}] * 2
    async with client_of(
        settings, rate_limit_address_operations="3/minute", max_batch_operations=5
    ) as client:
        accepted = await client.post("/graphql", json=batch, headers=ada)
        refused = await client.post("/graphql", json=batch, headers=bob)

    assert accepted.status_code == 200
    _address_refusal(refused, requested=2)


async def test_operations_over_a_websocket_spend_from_the_address_budget(
    settings: Settings, database: Database
) -> None:
    ada, bob = await _bearer(settings, database), await _bearer(settings, database)
    frugal = create_app(settings.model_copy(update={"rate_limit_address_operations": "3/minute"}))
    query = "subscription { postPublished { title } }"
    async with (
        served(frugal) as url,
        graphql_socket(url, payload=ada) as first,
        graphql_socket(url, payload=bob) as second,
    ):
        await first.subscribe("1", query)
        await second.subscribe("1", query)
        await first.subscribe("2", query)
        await second.subscribe("2", query)
        refused = await second.receive()

    assert refused["id"] == "2"
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
    assert errors[0]["extensions"]["budget"] == "address"


SIGN_UP = """
mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken errors { code } } }
"""


def _sign_up(name: str) -> dict[str, Any]:
    account = {
        "username": name,
        "email": f"{name}@example.com",
        "password": "correct horse battery",
        "displayName": name,
    }
    return {"query": SIGN_UP, "variables": {"input": account}}


async def _accounts(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int(
            await connection.scalar(sa.select(sa.func.count()).select_from(users_table)) or 0
        )


async def test_sign_ups_per_address_are_limited(settings: Settings, database: Database) -> None:
    async with client_of(settings, rate_limit_sign_ups="2/hour") as client:
        for name in ("ada", "bob"):
            created = await client.post("/graphql", json=_sign_up(name))
            assert created.json()["data"]["signUp"]["errors"] == []
        refused = await client.post("/graphql", json=_sign_up("carol"))

    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.json()["data"] is None
    error = refused.json()["errors"][0]
    assert error["extensions"] == {
        "code": "RATE_LIMITED",
        "budget": "signUps",
        "limit": 2,
        "retryAfter": int(refused.headers["retry-after"]),
    }
    assert error["message"].startswith(
        "Rate limit exceeded: at most 2 sign-ups from one address per hour; retry in "
    )
    assert await _accounts(database) == 2


async def test_sign_ups_that_create_nothing_spend_nothing(
    settings: Settings, database: Database
) -> None:
    async with client_of(settings, rate_limit_sign_ups="1/hour") as client:
        invalid = await client.post("/graphql", json=_sign_up("x"))
        created = await client.post("/graphql", json=_sign_up("ada"))
        taken = await client.post("/graphql", json=_sign_up("ada"))

    assert invalid.json()["data"]["signUp"]["errors"] == [{"code": "USERNAME_INVALID"}]
    assert created.json()["data"]["signUp"]["errors"] == []
    assert taken.status_code == 200
    assert taken.json()["data"]["signUp"]["errors"] == [
        {"code": "USERNAME_TAKEN"},
        {"code": "EMAIL_TAKEN"},
    ]


async def test_sign_ups_over_a_websocket_spend_from_the_same_budget(
    settings: Settings, database: Database
) -> None:
    frugal = create_app(settings.model_copy(update={"rate_limit_sign_ups": "1/hour"}))
    async with served(frugal) as url, graphql_socket(url) as socket:
        first, second = _sign_up("ada"), _sign_up("bob")
        await socket.send({"id": "1", "type": "subscribe", "payload": first})
        created = await socket.next_data("1")
        assert (await socket.receive())["type"] == "complete"
        await socket.send({"id": "2", "type": "subscribe", "payload": second})
        refused = await socket.next_data("2")

    assert created["data"]["signUp"]["errors"] == []
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert refused["errors"][0]["extensions"]["budget"] == "signUps"
    assert await _accounts(database) == 1


INVALID = "{ noSuchField }"


async def test_refused_documents_over_a_websocket_spend_operations_too(
    settings: Settings, database: Database
) -> None:
    """Over HTTP every operation is spent before parsing; on a socket too, so that invalid
    documents (validation is not free) cannot be sent without end."""
    frugal = create_app(settings.model_copy(update={"rate_limit_operations": "2/minute"}))
    async with served(frugal) as url, graphql_socket(url) as socket:
        answers = []
        for number, document in enumerate((INVALID, INVALID, QUERY), start=1):
            await socket.subscribe(str(number), document)
            answers.append(await socket.receive())

    codes = [answer["payload"][0]["extensions"]["code"] for answer in answers]
    assert [answer["type"] for answer in answers] == ["error"] * 3
    assert codes == ["GRAPHQL_VALIDATION_FAILED", "GRAPHQL_VALIDATION_FAILED", "RATE_LIMITED"]


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_an_address_budget_counts_ipv6_by_its_network(address: str | None, group: str) -> None:
    assert address_group(address) == group


async def test_clients_of_one_ipv6_network_share_the_anonymous_budget(
    settings: Settings, database: Database
) -> None:
    frugal = create_app(settings.model_copy(update={"rate_limit_operations": "2/minute"}))
    answers = []
    for host in ("2001:db8::1", "2001:db8::2:3", "2001:db8::ffff"):
        transport = httpx.ASGITransport(app=frugal, client=(host, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://quire.test") as client:
            answers.append((await client.post("/graphql", json={"query": QUERY})).status_code)
    state = frugal.state
    await close_services(state.database, state.rate_limiter, state.persisted)

    assert answers == [200, 200, 429]
