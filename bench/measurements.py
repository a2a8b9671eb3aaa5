"""What the bench measures against (servers, options) and what it records (one result per
scenario and server): shared by measure.py, report.py and profile.py."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios import Scenario

JSON = dict[str, Any]
# Statements counted by PostgreSQL itself, or by Quire (its SQLAlchemy before_cursor_execute
# hook, summed per operation in /metrics) where there is no PostgreSQL (SQLite).
COUNTED_BY_POSTGRES = "pg_stat_statements"
COUNTED_BY_QUIRE = "quire_graphql_sql_statements (/metrics)"


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    url: str
    pid: int
    role: str | None  # the PostgreSQL role it logs in as; None: it does not use PostgreSQL
    scenarios: frozenset[str] = frozenset()  # the keys it is measured on
    # Quire with its response cache: measured on the cached scenarios only, with Quire's
    # bodies, against PostGraphile's uncached numbers of the same scenario.
    cached: bool = False

    @property
    def body_key(self) -> str:
        return "postgraphile" if self.name == "postgraphile" else "quire"

    @property
    def on_postgres(self) -> bool:
        return self.role is not None

    @property
    def metrics_url(self) -> str:
        return self.url.removesuffix("/graphql") + "/metrics"

    def runs(self, scenario: Scenario) -> bool:
        return scenario.key in self.scenarios and self.body_key in scenario.bodies


@dataclass(frozen=True, slots=True)
class Options:
    database: str
    connections: int
    threads: int
    duration: int
    warmup: int
    sql_requests: int
    output: Path
    # Scenarios measured only for the growth table (g<size>) run this long instead.
    growth_duration: int = 10


@dataclass(slots=True)
class Result:
    scenario: str
    server: str
    requests_per_second: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p90_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_max_ms: float = 0.0
    requests: int = 0
    duration_seconds: int = 0
    errors: int = 0
    error_detail: JSON = field(default_factory=dict)
    sql_statements_per_request: float = 0.0
    utility_statements_per_request: float = 0.0
    sql_counted_by: str = COUNTED_BY_POSTGRES
    # Quire's own count (statements inside the GraphQL operation, from /metrics): beside
    # pg_stat_statements it shows what the server sends outside the operation (a bearer
    # token's user lookup) and what the driver adds (BEGIN/COMMIT are utility above).
    quire_counted_statements_per_request: float | None = None
    # pg_stat_statements per request: rows the statements returned, and shared buffer blocks
    # they touched (hit + read): how much of the tables a request walks.
    postgres_rows_per_request: float | None = None
    postgres_blocks_per_request: float | None = None
    top_statements: list[JSON] = field(default_factory=list)
    server_cpu_ms_per_request: float = 0.0
    server_cpu_percent: float = 0.0
    busiest_process_cpu_share: float = 0.0
    postgres_cpu_ms_per_request: float = 0.0
    postgres_connections_after: int = 0  # the server's backends right after the run
    wrk_cpu_percent: float = 0.0
    # Machine CPU busy during the run that is neither this server, its backends, nor wrk.
    other_cpu_percent: float = 0.0
    response_bytes: int = 0
    same_data_as_quire: bool | None = None
    cache_hit_rate: float | None = None  # Quire's cached servers: share of X-Quire-Cache: hit
    viewer: str | None = None  # the signed-in user's username (scenario e)
    posts_per_page: int | None = None
