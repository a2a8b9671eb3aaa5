"""The `quire` command: serve, migrate, seed, create-admin, export-schema, check and
check-documents. Each command reads the settings once and does one job."""

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app import SCHEMA_FILE, create_app
from models.database import create_database
from models.database_problems import find_database_problem
from models.health import database_advice, readiness
from models.migrations import DatabaseUnusable, head_revision, migrate
from resolvers.services import create_redis
from schema.root import create_schema
from schema.workers import serve
from settings import Settings

DOCUMENTS_MANIFEST = Path(__file__).parent / "schema" / "trusted-documents.json"
RELEASED_SCHEMA = Path(__file__).parent / "schema" / "released.graphql"


def _serve(settings: Settings, _arguments: argparse.Namespace) -> None:
    serve(settings, create_app)


def _migrate(settings: Settings, arguments: argparse.Namespace) -> None:
    print(migrate(settings.database_url, revision=arguments.revision))


SEED_SIZE_FLAGS = ("authors", "readers", "posts", "comments", "tags")


def _seed(settings: Settings, arguments: argparse.Namespace) -> None:
    if any(getattr(arguments, size) is not None for size in SEED_SIZE_FLAGS):
        _seed_volume(settings, arguments)
    else:
        _seed_demo_publication(settings, arguments)


def _seed_volume(settings: Settings, arguments: argparse.Namespace) -> None:
    from models.seed import seed_database

    try:
        from models.volume_data import SeedSizes
    except ModuleNotFoundError as error:
        raise SystemExit(
            f"Volume data needs {error.name}, a development dependency: run `make install` "
            "(or pip install -e '.[bench]')."
        ) from None

    defaults = SeedSizes()
    sizes = SeedSizes(
        **{
            size: getattr(arguments, size)
            if getattr(arguments, size) is not None
            else getattr(defaults, size)
            for size in SEED_SIZE_FLAGS
        }
    )
    created = asyncio.run(
        seed_database(
            settings.database_url,
            sizes=sizes,
            random_seed=arguments.random_seed,
            reset=arguments.reset,
            if_empty=arguments.if_empty,
        )
    )
    print("seeded demo data" if created else "database already has posts; left unchanged")


def _seed_demo_publication(settings: Settings, arguments: argparse.Namespace) -> None:
    from models.passwords import create_passwords
    from models.seed import seed_demo_publication

    development = settings.env == "development"
    credentials = asyncio.run(
        seed_demo_publication(
            settings.database_url,
            passwords=create_passwords(settings) if development else None,
            reset=arguments.reset,
            if_empty=arguments.if_empty,
        )
    )
    if credentials is None:
        print("database already has posts; left unchanged")
        return
    print("seeded demo data: the demo publication")
    if not development:
        print("demo accounts have no password in production: use `quire create-admin`")
        return
    print("demo accounts (development only; passwords shown once, `make reseed` for new ones):")
    for account in credentials:
        print(f"  {account.role.value.lower():<7} {account.username:<9} {account.password}")


def _create_admin(settings: Settings, arguments: argparse.Namespace) -> None:
    from models.passwords import create_passwords
    from models.tables import Role
    from resolvers.accounts import SignUp
    from resolvers.administration import create_user_with_role

    password = os.environ.get("QUIRE_ADMIN_PASSWORD") or getpass.getpass("Admin password: ")
    sign_up = SignUp(
        username=arguments.username,
        email=arguments.email,
        password=password,
        display_name=arguments.display_name or arguments.username,
    )

    async def create() -> tuple[int | None, list[Any]]:
        database = create_database(settings)
        try:
            return await create_user_with_role(
                database, passwords=create_passwords(settings), sign_up=sign_up, role=Role.ADMIN
            )
        finally:
            await database.dispose()

    user_id, problems = asyncio.run(create())
    if problems:
        raise SystemExit("\n".join(f"{p.field or 'input'}: {p.message}" for p in problems))
    print(f"created admin {sign_up.username.strip().lower()} (id {user_id})")


def _export_schema(_settings: Settings, arguments: argparse.Namespace) -> None:
    from strawberry.printer import print_schema

    output = Path(arguments.output)
    sdl = print_schema(create_schema()) + "\n"
    unchanged = output.is_file() and output.read_text() == sdl
    output.write_text(sdl)
    print(f"{output}: {'unchanged' if unchanged else 'written'} ({sdl.count(chr(10))} lines)")


def _check(settings: Settings, _arguments: argparse.Namespace) -> None:
    """Settings (already read when this runs), database, migrations and Redis, as /readyz."""

    async def run() -> tuple[list[Any], str | None]:
        database = create_database(settings)
        redis = create_redis(settings)
        try:
            checks = await readiness(database, redis, head_revision())
            return checks, await database_advice(database, head_revision())
        finally:
            await database.dispose()
            if redis is not None:
                await redis.aclose()

    checks, advice = asyncio.run(run())
    print(f"settings: ok ({settings.env}, {settings.database_url.split(':', 1)[0]})")
    for check in checks:
        print(f"{check.name}: {'ok' if check.ok else 'FAILED'} ({check.detail})")
    if advice is not None:
        print(advice)
    if not all(check.ok for check in checks):
        raise SystemExit(1)


def _check_documents(_settings: Settings, arguments: argparse.Namespace) -> None:
    from schema.documents import check_manifest

    released = Path(arguments.released) if arguments.released else None
    report = check_manifest(create_schema()._schema, Path(arguments.manifest), released)
    for problem in report.invalid:
        print(f"invalid document {problem}")
    for change in report.breaking:
        print(f"breaking change for a shipped document: {change}")
    if not report.ok:
        raise SystemExit(1)
    print(f"{arguments.manifest}: every document is valid against the current schema")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quire", description="Quire GraphQL content API")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (HOST, PORT, QUIRE_WORKERS)")
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head")
    seed = commands.add_parser(
        "seed",
        help="write the demo publication; with any of --authors, --readers, --posts, "
        "--comments or --tags, Faker volume data of that size instead",
    )
    for size in SEED_SIZE_FLAGS:
        seed.add_argument(f"--{size}", type=int)
    seed.add_argument("--random-seed", type=int, default=2026)
    seed.add_argument("--reset", action="store_true", help="delete all content first")
    seed.add_argument("--if-empty", action="store_true", help="do nothing if posts exist")
    admin = commands.add_parser(
        "create-admin", help="create an admin (password from QUIRE_ADMIN_PASSWORD or a prompt)"
    )
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument("--display-name")
    export = commands.add_parser("export-schema", help="write the SDL to schema.graphql")
    export.add_argument("--output", default=str(SCHEMA_FILE))
    commands.add_parser(
        "check", help="check settings, database, migrations and Redis (exit 1 on a problem)"
    )
    documents = commands.add_parser(
        "check-documents",
        help="validate the trusted-documents manifest against the schema, and list breaking "
        "changes since the released schema that touch it",
    )
    documents.add_argument("--manifest", default=str(DOCUMENTS_MANIFEST))
    documents.add_argument("--released", default=str(RELEASED_SCHEMA))
    return parser


DATABASE_COMMANDS = {"migrate", "seed", "create-admin"}
COMMANDS = {
    "serve": _serve,
    "migrate": _migrate,
    "seed": _seed,
    "create-admin": _create_admin,
    "export-schema": _export_schema,
    "check-documents": _check_documents,
    "check": _check,
}


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        raise SystemExit(f"Invalid settings:\n{error}") from None
    try:
        COMMANDS[arguments.command](settings, arguments)
    except DatabaseUnusable as error:
        raise SystemExit(str(error)) from None
    except (SQLAlchemyError, OSError) as error:
        # A command that found the database out of reach says what to do, in one line. Only
        # commands whose work is the database: another command's OSError is not about it.
        problem = (
            find_database_problem(error, database_url=settings.database_url)
            if arguments.command in DATABASE_COMMANDS
            else None
        )
        if problem is None:
            raise
        raise SystemExit(problem.advice) from None


if __name__ == "__main__":
    main(sys.argv[1:])
