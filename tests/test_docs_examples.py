"""Every GraphQL example in README.md and docs/*.md runs on freshly seeded demo data: no
errors (GraphQL errors or a payload's `errors`), and every root field holds data."""

from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, OperationType, parse, validate

from schema.root import create_schema
from settings import Settings
from tests.demo import demo_headers, seed_demo
from tests.docs import Example, all_examples
from tests.graphql import data

EXAMPLES = all_examples()
LOG_IN = "mutation ($input: LogInInput!) { logIn(input: $input) { refreshToken } }"


def _operations(example: Example) -> list[OperationDefinitionNode]:
    document = parse(example.document)
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _empty(value: Any) -> bool:
    """Nothing to show: null, an empty list, or a connection without nodes or edges."""
    if value is None or value == []:
        return True
    if isinstance(value, dict):
        return any(key in value and value[key] == [] for key in ("nodes", "edges"))
    return False


def _payload_errors(value: Any) -> list[Any]:
    if isinstance(value, dict):
        own = value.get("errors") or []
        return [*own, *(e for v in value.values() for e in _payload_errors(v))]
    if isinstance(value, list):
        return [e for item in value for e in _payload_errors(item)]
    return []


async def _secret(client: httpx.AsyncClient, *, kind: str, username: str, password: str) -> str:
    if kind == "password":
        return password
    variables = {"input": {"usernameOrEmail": username, "password": password}}
    result = await data(client, LOG_IN, variables)
    token: str = result["logIn"]["refreshToken"]
    return token


def test_the_docs_have_examples_of_every_kind() -> None:
    kinds = {op.operation for example in EXAMPLES for op in _operations(example)}

    assert kinds == {OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION}
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.where for example in EXAMPLES])
async def test_example_runs_on_the_demo_publication(
    example: Example, client: httpx.AsyncClient, settings: Settings
) -> None:
    credentials = await seed_demo(settings)
    passwords = {account.username: account.password for account in credentials}
    secrets = {
        (kind, name): await _secret(client, kind=kind, password=passwords[name], username=name)
        for kind, name in example.secrets()
    }
    for operation in _operations(example):
        if operation.operation is OperationType.SUBSCRIPTION:
            assert validate(create_schema()._schema, parse(example.document)) == []
            continue
        body = {
            "query": example.document,
            "variables": example.variables_with(secrets),
            "operationName": operation.name.value if operation.name else None,
        }
        response = await client.post(
            "/graphql", json=body, headers=demo_headers(settings, example.viewer)
        )

        result = response.json()
        assert "errors" not in result, result["errors"]
        assert _payload_errors(result["data"]) == []
        assert [name for name, value in result["data"].items() if _empty(value)] == []
