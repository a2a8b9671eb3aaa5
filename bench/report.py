"""The bench's printed tables: every result, CPU per request against page size, and the
signed-in reader next to the anonymous one. The same numbers go to the results JSON."""

from measurements import COUNTED_BY_POSTGRES, JSON, Result

COLUMNS = [
    ("scenario", 8),
    ("server", 12),
    ("req/s", 9),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("errors", 7),
    ("SQL/req", 8),
    ("util/req", 8),
    ("CPU ms/req", 10),
    ("CPU %", 6),
    ("PG ms/req", 9),
    ("PG conns", 8),
    ("other %", 7),
    ("hit %", 6),
    ("Quire/PG", 8),
    ("PG blk/req", 10),
]
NOT_MEASURED = "-"


def _row(cells: list[str], columns: list[tuple[str, int]]) -> str:
    return "  ".join(
        f"{cell:>{width}}" if i > 1 else f"{cell:<{width}}"
        for i, (cell, (_, width)) in enumerate(zip(cells, columns, strict=True))
    )


def _header(columns: list[tuple[str, int]]) -> list[str]:
    line = _row([name for name, _ in columns], columns)
    return [line, "-" * len(line)]


def rate_ratio(results: list[Result], result: Result, baselines: dict[str, str]) -> float | None:
    """A Quire row's req/s over PostGraphile's in the scenario it compares with (its own, or
    (b) for the signed-in (e)). The SQLite rows compare with nothing: another database."""
    if result.server in ("postgraphile", "quire-sqlite"):
        return None
    key = baselines.get(result.scenario, result.scenario)
    other = next((r for r in results if r.scenario == key and r.server == "postgraphile"), None)
    if other is None or not other.requests_per_second:
        return None
    return result.requests_per_second / other.requests_per_second


def table(results: list[Result], baselines: dict[str, str]) -> str:
    lines = _header(COLUMNS)
    for r in results:
        ratio = rate_ratio(results, r, baselines)
        on_postgres = r.sql_counted_by == COUNTED_BY_POSTGRES
        blocks = r.postgres_blocks_per_request
        cells = [
            r.scenario,
            r.server,
            f"{r.requests_per_second:.1f}",
            f"{r.latency_p50_ms:.2f}",
            f"{r.latency_p99_ms:.2f}",
            str(r.errors),
            f"{r.sql_statements_per_request:.2f}",
            f"{r.utility_statements_per_request:.2f}" if on_postgres else NOT_MEASURED,
            f"{r.server_cpu_ms_per_request:.2f}",
            f"{r.server_cpu_percent:.0f}",
            f"{r.postgres_cpu_ms_per_request:.2f}" if on_postgres else NOT_MEASURED,
            str(r.postgres_connections_after) if on_postgres else NOT_MEASURED,
            f"{r.other_cpu_percent:.0f}",
            "" if r.cache_hit_rate is None else f"{100 * r.cache_hit_rate:.0f}",
            "" if ratio is None else f"{ratio:.2f}x",
            NOT_MEASURED if blocks is None else f"{blocks:.0f}",
        ]
        lines.append(_row(cells, COLUMNS))
    return "\n".join(lines)


LEGEND = """\
req/s, p50/p99: wrk, {connections} connections, {threads} thread(s), {duration}s after {warmup}s \
warm-up (the growth-only g<size> rows: {growth_duration}s). errors: non-200 + bodies with \
"errors" + socket errors.
SQL/req: pg_stat_statements calls (SELECT/WITH/...) per request over {sql_requests} sequential \
requests; util/req: BEGIN/COMMIT/ROLLBACK/SET/... per request. quire-sqlite (no PostgreSQL): \
Quire's own count per operation (/metrics quire_graphql_sql_statements, SQLAlchemy's \
before_cursor_execute), which sees no BEGIN/COMMIT.
CPU ms/req: user+sys CPU of the server's process tree (uvicorn master + workers / node) during \
the measured run, per request; CPU %: the same per wall second (100 = one core; the machine \
has {cpus}). quire-sqlite's CPU includes SQLite's own work, which runs inside its workers. \
PG ms/req: CPU of the PostgreSQL backends of the server's role, per request; PG conns: those \
backends right after the run; PG blk/req: shared buffer blocks (hit + read) its statements \
touched per request (pg_stat_statements).
other %: machine CPU busy during the run outside the server, its backends and wrk (should be ~0).
quire-memory / quire-redis: Quire with its response cache (in memory, 1 worker; in Redis, 2
workers), on the cached scenarios; hit %: responses answered from it (X-Quire-Cache: hit).
quire-sqlite: scenario (f), Quire on the embedded SQLite default (2 workers, same settings).
(e): (b) for a signed-in reader (Authorization: Bearer), Quire only.
Quire/PG compares each Quire row with PostGraphile's (uncached) row of the same scenario
((e) with PostGraphile's (b); quire-sqlite with none)."""


# --- CPU per request against page size ----------------------------------------------------

GROWTH_COLUMNS = [
    ("posts", 5),
    ("scenario", 8),
    ("Quire req/s", 11),
    ("Quire CPU ms/req", 16),
    ("Quire PG ms/req", 15),
    ("PGL req/s", 9),
    ("PGL CPU ms/req", 14),
    ("PGL PG ms/req", 13),
    ("CPU Quire/PGL", 13),
]


def cpu_growth(results: list[Result]) -> list[JSON]:
    """The anonymous nested listings, one row per page size, Quire beside PostGraphile."""
    rows: list[JSON] = []
    listings = {r.scenario: r.posts_per_page for r in results if r.posts_per_page is not None}
    for key, posts in sorted(listings.items(), key=lambda item: item[1] or 0):
        quire = _find(results, key, "quire")
        postgraphile = _find(results, key, "postgraphile")
        if quire is None or postgraphile is None:
            continue  # (e), signed in, has no PostGraphile row
        rows.append(
            {
                "posts": posts,
                "scenario": key,
                "quire_requests_per_second": quire.requests_per_second,
                "quire_cpu_ms_per_request": quire.server_cpu_ms_per_request,
                "quire_postgres_cpu_ms_per_request": quire.postgres_cpu_ms_per_request,
                "postgraphile_requests_per_second": postgraphile.requests_per_second,
                "postgraphile_cpu_ms_per_request": postgraphile.server_cpu_ms_per_request,
                "postgraphile_postgres_cpu_ms_per_request": (
                    postgraphile.postgres_cpu_ms_per_request
                ),
            }
        )
    return rows


def growth_table(rows: list[JSON]) -> str:
    lines = [
        "CPU per request against page size ((b)'s query, 10 comments per post; "
        "PGL = PostGraphile):",
        *_header(GROWTH_COLUMNS),
    ]
    for row in rows:
        quire_cpu, other_cpu = (
            row["quire_cpu_ms_per_request"],
            row["postgraphile_cpu_ms_per_request"],
        )
        cells = [
            str(row["posts"]),
            row["scenario"],
            f"{row['quire_requests_per_second']:.1f}",
            f"{quire_cpu:.2f}",
            f"{row['quire_postgres_cpu_ms_per_request']:.2f}",
            f"{row['postgraphile_requests_per_second']:.1f}",
            f"{other_cpu:.2f}",
            f"{row['postgraphile_postgres_cpu_ms_per_request']:.2f}",
            f"{quire_cpu / other_cpu:.2f}x" if other_cpu else "n/a",
        ]
        lines.append(_row(cells, GROWTH_COLUMNS))
    return "\n".join(lines)


# --- the signed-in reader -----------------------------------------------------------------


def signed_in_comparison(results: list[Result]) -> JSON | None:
    """(e) next to Quire's anonymous (b) and PostGraphile's (b)."""
    reader = _find(results, "e", "quire")
    anonymous = _find(results, "b", "quire")
    if reader is None:
        return None
    comparison: JSON = {"viewer": reader.viewer, "signed_in": _work(reader)}
    if anonymous is not None:
        comparison["anonymous_quire_b"] = _work(anonymous)
    postgraphile = _find(results, "b", "postgraphile")
    if postgraphile is not None:
        comparison["postgraphile_b"] = _work(postgraphile)
    return comparison


def signed_in_summary(comparison: JSON) -> str:
    lines = [f"(e) signed in as {comparison['viewer']} (READER), per request:"]
    labels = {
        "signed_in": "Quire (e) signed in",
        "anonymous_quire_b": "Quire (b) anonymous",
        "postgraphile_b": "PostGraphile (b)",
    }
    for key, label in labels.items():
        work = comparison.get(key)
        if work is None:
            continue
        rows = work["postgres_rows_per_request"]
        blocks = work["postgres_blocks_per_request"]
        lines.append(
            f"  {label:<20} {work['requests_per_second']:8.1f} req/s  "
            f"CPU {work['server_cpu_ms_per_request']:6.2f} ms  "
            f"PG {work['postgres_cpu_ms_per_request']:6.2f} ms  "
            f"SQL {work['sql_statements_per_request']:.2f} "
            f"+ {work['utility_statements_per_request']:.2f} util  "
            f"rows returned {'-' if rows is None else f'{rows:.0f}'}  "
            f"blocks {'-' if blocks is None else f'{blocks:.0f}'}"
        )
    return "\n".join(lines)


def _work(result: Result) -> JSON:
    return {
        "requests_per_second": result.requests_per_second,
        "server_cpu_ms_per_request": result.server_cpu_ms_per_request,
        "postgres_cpu_ms_per_request": result.postgres_cpu_ms_per_request,
        "sql_statements_per_request": result.sql_statements_per_request,
        "utility_statements_per_request": result.utility_statements_per_request,
        "postgres_rows_per_request": result.postgres_rows_per_request,
        "postgres_blocks_per_request": result.postgres_blocks_per_request,
        "latency_p50_ms": result.latency_p50_ms,
        "latency_p99_ms": result.latency_p99_ms,
    }


def _find(results: list[Result], scenario: str, server: str) -> Result | None:
    return next((r for r in results if r.scenario == scenario and r.server == server), None)
