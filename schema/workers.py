"""`quire serve`: the uvicorn configuration, and one process per worker, each with its own
SO_REUSEPORT socket.

uvicorn's --workers share one listening socket, and asyncio accepts a whole burst of
connections in whichever worker wakes first, so one worker can end up with all of them. With
a socket per worker the kernel spreads connections across the workers.
"""

import asyncio
import errno
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from models.database import create_database
from models.health import database_advice
from models.migrations import head_revision
from resolvers.observability import configure_logging
from schema.protocol import BoundedHttpProtocol, ClientLimits, trusted_networks
from schema.server import Drain, QuireServer
from settings import Settings

AppFactory = Callable[[Settings], Starlette]
logger = logging.getLogger("quire.server")


def uvicorn_config(settings: Settings, application: Starlette | str) -> uvicorn.Config:
    return uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        http=BoundedHttpProtocol,
        # Forwarded headers are believed only from the configured proxies.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        server_header=False,
        log_config=None,  # configure_logging() already set the handlers
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )


def client_limits(settings: Settings) -> ClientLimits:
    return ClientLimits(
        head_bytes=settings.max_request_head_bytes,
        head_timeout_seconds=settings.request_head_timeout_seconds,
        body_timeout_seconds=settings.request_body_timeout_seconds,
        connections_per_address=settings.max_connections_per_client,
        uncapped_networks=trusted_networks(settings.forwarded_allow_ips),
    )


def create_server(settings: Settings, create_app: AppFactory) -> QuireServer:
    application = create_app(settings)
    drain: Drain = application.state.drain
    return QuireServer(
        uvicorn_config(settings, application),
        limits=client_limits(settings),
        drain=drain,
        drain_seconds=settings.shutdown_drain_seconds,
    )


def reuse_port_socket(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((settings.host, settings.port))
    listener.set_inheritable(True)
    return listener


def ensure_port_is_free(settings: Settings) -> None:
    """Stops with one line that says what to do when HOST:PORT cannot be listened on (uvicorn
    would log a bare errno; SO_REUSEPORT workers could even share a port with another server)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as error:
            raise SystemExit(_bind_problem(settings, error)) from None


def _bind_problem(settings: Settings, error: OSError) -> str:
    where = f"{settings.host}:{settings.port}"
    if error.errno == errno.EADDRINUSE:
        return (
            f"Port {settings.port} is in use ({where}): stop the other server, or set another "
            f"port, e.g. PORT={settings.port + 1} make run (or PORT=... quire serve)."
        )
    if error.errno == errno.EACCES:
        return f"Not allowed to listen on {where}: use a port above 1023 (PORT=8000)."
    return f"Cannot listen on {where} ({error.strerror}): check HOST and PORT."


def announcement(settings: Settings) -> str:
    """Where to go once the server listens: the playground in development."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{settings.port}/graphql"
    return f"Playground: {url} (/ leads there)" if settings.graphiql_enabled else f"GraphQL: {url}"


def warn_if_database_cannot_serve(settings: Settings) -> None:
    """One warning line before serving when the database is unreachable or not migrated; the
    server starts anyway (the database may come up later) and /readyz says 503 until then."""

    async def advice() -> str | None:
        database = create_database(settings)
        try:
            return await database_advice(database, head_revision())
        finally:
            await database.dispose()

    problem = asyncio.run(advice())
    if problem is not None:
        logger.warning("%s Serving anyway; /readyz answers 503 until it is fixed.", problem)


def run_worker(settings: Settings, create_app: AppFactory) -> None:
    configure_logging(settings)
    create_server(settings, create_app).run(sockets=[reuse_port_socket(settings)])


def serve(settings: Settings, create_app: AppFactory) -> None:
    configure_logging(settings)
    ensure_port_is_free(settings)
    warn_if_database_cannot_serve(settings)
    if settings.workers == 1:
        # uvicorn re-raises SIGTERM/SIGINT once its graceful shutdown is done; that shutdown is
        # the expected way to stop, so the process then exits 0.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda *_: None)
        server = create_server(settings, create_app)
        server.announcement = announcement(settings)
        server.run()
        return
    # Each worker writes its metrics here and /metrics (in any worker) sums them all.
    metrics_dir = tempfile.mkdtemp(prefix="quire-metrics-")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=run_worker, args=(settings, create_app))
        for _ in range(settings.workers)
    ]
    for worker in workers:
        worker.start()
    logger.info("%s, %d workers", announcement(settings), settings.workers)

    def _stop(signum: int, _frame: object) -> None:
        # Each worker drains on its own: SIGTERM is passed on as it came.
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for worker in workers:
        worker.join()
    shutil.rmtree(metrics_dir, ignore_errors=True)


def tune_garbage_collector() -> None:
    """Big responses allocate many short-lived objects; the default GC thresholds make
    collection dominate request CPU. Freeze what start-up allocated and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
