"""The one settings object: every knob Quire has, read from the environment once."""

import ipaddress
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 (refused in production)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QUIRE_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "production"] = "development"
    database_url: str = Field(
        default="sqlite+aiosqlite:///./quire.db",
        validation_alias=AliasChoices("DATABASE_URL", "QUIRE_DATABASE_URL"),
    )
    # Per worker. Keep workers x (pool + overflow) below PostgreSQL's max_connections.
    database_pool_size: int = Field(default=20, ge=1, le=1000)
    database_max_overflow: int = Field(default=10, ge=0, le=1000)
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # PostgreSQL connections older than this are replaced (each is also pinged before use).
    database_pool_recycle_seconds: int = Field(default=1800, ge=1)
    database_echo: bool = False
    # PostgreSQL's plan_cache_mode for Quire's connections. Its default, `auto`, planned every
    # execution of a compiled read anew (its generic plan's estimate looked costlier although
    # the plan is the same), about 0.4 ms of database CPU per nested read; Quire's statements
    # are index-driven and keyed by parameters, so one generic plan per statement serves all.
    database_plan_cache_mode: Literal["auto", "force_generic_plan", "force_custom_plan"] = (
        "force_generic_plan"
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "QUIRE_REDIS_URL")
    )
    # Keys Quire writes to Redis (rate-limit counters, persisted queries) start with this.
    redis_key_prefix: str = Field(default="quire", min_length=1)
    redis_timeout_seconds: float = Field(default=1.0, gt=0)
    # After this many failures or timeouts in a row, Redis is skipped (each user falls back as
    # when Redis is down) for the cool-down; then one command probes it again.
    redis_circuit_failures: int = Field(default=3, ge=1)
    redis_circuit_cooldown_seconds: float = Field(default=10.0, gt=0)
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("HOST", "QUIRE_HOST"))
    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "QUIRE_PORT")
    )
    workers: int = Field(default=1, ge=1, le=64)
    # uvicorn's own line per HTTP request; Quire writes its own line per GraphQL operation.
    access_log: bool = False
    # Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed (the client address drives rate limits). Unset: none.
    forwarded_allow_ips: str | None = None
    # Seconds in-flight requests get to finish after SIGTERM before they are cut off.
    graceful_shutdown_seconds: int = Field(default=20, ge=1)
    # Seconds between SIGTERM and the graceful shutdown: /readyz answers 503 while requests are
    # still accepted and served (with Connection: close), so that the load balancer stops
    # sending here before the listening socket closes. Keep drain + graceful shutdown below the
    # orchestrator's stop timeout (compose: stop_grace_period). 0: stop accepting at once.
    shutdown_drain_seconds: float = Field(default=5.0, ge=0, le=300)
    # What one client may hold at the HTTP layer (`quire serve` exposed without a proxy): the
    # request line and headers in bytes (431 above), seconds to send them and seconds a request
    # body may pause (408 after), and open connections per client address per worker process
    # (429; addresses in QUIRE_FORWARDED_ALLOW_IPS, the proxies, are not capped).
    max_request_head_bytes: int = Field(default=32_768, ge=1_024, le=1_048_576)
    request_head_timeout_seconds: float = Field(default=10.0, gt=0)
    request_body_timeout_seconds: float = Field(default=10.0, gt=0)
    max_connections_per_client: int = Field(default=64, ge=1)
    log_format: Literal["json", "text"] | None = None  # json in production, text otherwise
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Comma-separated CIDR networks allowed to read /metrics; everyone else gets 404.
    metrics_allow: str = "127.0.0.1/32,::1/128"
    # OpenTelemetry tracing (spans for requests, GraphQL execution and SQL), exported over
    # OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (the SDK's own variables apply).
    otel_enabled: bool = False
    otel_service_name: str = "quire"
    secret_key: str = DEFAULT_SECRET_KEY
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"] = "HS256"
    # PEM keys for the asymmetric algorithms; HS* sign with QUIRE_SECRET_KEY.
    jwt_private_key: str | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str = "quire"
    jwt_audience: str = "quire-api"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Password guessing (logIn, changePassword; see resolvers/throttle.py). A client without
    # a device token for the account has this many failures per window free; then each
    # failure makes the next attempt wait, from the first delay doubling up to the longest.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_delay_first_seconds: int = Field(default=1, ge=1)
    login_delay_longest_seconds: int = Field(default=60, ge=1)
    # Failures per window of the clients without a device token at one address.
    login_failures_per_address: int = Field(default=20, ge=1)
    # Failures per window of one client that logged in to the account before (device token).
    login_failures_per_device: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_device_token_days: int = Field(default=180, ge=1, le=3650)
    # Titles are bounded by their column (200 characters); bodies by these.
    max_post_body_bytes: int = Field(default=100_000, ge=1, le=10_000_000)
    max_comment_bytes: int = Field(default=10_000, ge=1, le=1_000_000)
    comment_edit_window_minutes: int = Field(default=15, ge=0)
    # A reader's comments skip moderation once this many of theirs were approved (0: never).
    trusted_after_approved_comments: int = Field(default=3, ge=0)
    # Full-text search queries: longer or wordier ones are refused before any SQL runs
    # (PostgreSQL's query parser recursed through a 130 KB query into a stack overflow).
    max_search_characters: int = Field(default=200, ge=1, le=10_000)
    max_search_words: int = Field(default=20, ge=1, le=1_000)
    max_query_depth: int = Field(default=12, ge=2)
    max_query_aliases: int = Field(default=30, ge=0)
    max_query_directives: int = Field(default=50, ge=0)
    max_repeated_fields: int = Field(default=20, ge=1)
    max_query_cost: int = Field(default=10_000, ge=1)
    max_query_tokens: int = Field(default=1_000, ge=100)
    # The document's text in bytes, comments and whitespace included (comments are not
    # tokens); it also bounds what the parser and validation caches may hold.
    max_query_bytes: int = Field(default=32_768, ge=1_024)
    # Operations and fragments one document may define: all of them are validated, even
    # those that do not run.
    max_query_operations: int = Field(default=5, ge=1)
    max_query_fragments: int = Field(default=50, ge=0)
    # Variables: levels of nested objects and lists, and values in all (keys included).
    max_variable_depth: int = Field(default=10, ge=2)
    max_variable_values: int = Field(default=1_000, ge=10)
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    # Batched (array) requests: at most this many operations in one request; 0 turns them off.
    max_batch_operations: int = Field(default=0, ge=0, le=100)
    # Per client (the user when authenticated, the address otherwise), in fixed windows, in
    # the `limits` library's notation ("600/minute", "10000 per hour").
    rate_limit_enabled: bool = True
    rate_limit_operations: str = "600/minute"
    rate_limit_cost: str = "200000/minute"
    # Operations of every client at one address together (users and anonymous alike), so that
    # self-made accounts do not multiply an address's budget; and accounts created per address.
    rate_limit_address_operations: str = "3000/minute"
    rate_limit_sign_ups: str = "5/hour"
    # Persisted queries: "apq" (Apollo's automatic persisted queries, registered on first
    # use), "trusted" (only the documents of QUIRE_TRUSTED_DOCUMENTS run) or "off".
    persisted_queries: Literal["off", "apq", "trusted"] = "apq"
    trusted_documents: str | None = None
    # The APQ store is bounded in documents and in bytes (per process in memory, in all in
    # Redis); documents are stored minified, and larger ones are run but not stored.
    persisted_query_cache_size: int = Field(default=10_000, ge=1)
    persisted_query_cache_bytes: int = Field(default=16_000_000, ge=10_000)
    persisted_query_max_document_bytes: int = Field(default=10_000, ge=100)
    persisted_query_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # GraphiQL, introspection and "Did you mean ...?" suggestions: unset means on in
    # development and off in production. QUIRE_INTROSPECTION=admins allows it to admins only.
    # Subscriptions (WebSockets on /graphql): connections per process, subscriptions per
    # connection, events a slow subscriber may fall behind before it is disconnected, seconds
    # to send connection_init, and the keep-alive interval of the legacy graphql-ws protocol.
    ws_max_connections: int = Field(default=1000, ge=1)
    ws_max_subscriptions: int = Field(default=20, ge=1)
    ws_queue_size: int = Field(default=100, ge=1)
    ws_init_timeout_seconds: int = Field(default=10, ge=1)
    ws_keep_alive_seconds: float = Field(default=15.0, gt=0)
    # Per process as well: sockets one client address may hold (raise it behind a NAT or a
    # proxy that is not in QUIRE_FORWARDED_ALLOW_IPS), sockets one user may hold, and seconds
    # a socket may stay without any operation in flight after connection_init.
    ws_max_connections_per_address: int = Field(default=50, ge=1)
    ws_max_connections_per_user: int = Field(default=10, ge=1)
    ws_idle_seconds: float = Field(default=300.0, gt=0)
    graphiql: bool | None = None
    introspection: Literal["everyone", "admins", "nobody"] | None = None
    suggestions: bool | None = None
    # Comma-separated origins allowed to call the API from a browser (with credentials).
    # Unset: local development servers in development, none in production.
    cors_origins: str | None = None
    # Comma-separated request headers a browser may send cross-origin: the common clients'
    # (Apollo's client awareness and CSRF-preflight headers, operation names and ids, request
    # ids) by default.
    cors_allow_headers: str = (
        "authorization,content-type,accept,x-request-id,x-preview-token,x-quire-sql-report,"
        "apollographql-client-name,apollographql-client-version,apollo-require-preflight,"
        "x-apollo-operation-name,x-apollo-operation-id,"
        "graphql-client-name,graphql-client-version,x-graphql-client-name,x-graphql-client-version"
    )
    # Quire's response cache for anonymous reads (GET and POST): in this process's memory, or
    # in Redis when REDIS_URL is set (shared by every instance). Entries are dropped by tag on
    # every write; they also expire after the TTL (and before the next scheduled publication).
    # Per-process memory cannot hear of another process's writes, so without Redis the cache
    # is off when QUIRE_WORKERS is above 1.
    response_cache: bool = True
    response_cache_memory_bytes: int = Field(default=64_000_000, ge=100_000)
    response_cache_redis_bytes: int = Field(default=256_000_000, ge=100_000)
    response_cache_redis_entries: int = Field(default=50_000, ge=10)
    response_cache_ttl_seconds: int = Field(default=600, ge=1)
    # HTTP caching of public reads (queries over GET without credentials): browsers keep them
    # max-age seconds (nothing can purge a browser), CDNs the CDN max age, sent in the header
    # QUIRE_CACHE_CDN_CONTROL_HEADER (Fastly: Surrogate-Control; Cloudflare: CDN-Cache-Control)
    # and purged by tag; stale-while-revalidate lets either answer while it revalidates.
    cache_max_age_seconds: int = Field(default=5, ge=0)
    cache_stale_while_revalidate_seconds: int = Field(default=10, ge=0)
    cache_cdn_max_age_seconds: int = Field(default=3600, ge=0)
    cache_cdn_control_header: str = "Surrogate-Control"
    # The tags of a public response, for purging by tag: Surrogate-Key (Fastly; separated by
    # spaces) or Cache-Tag (Cloudflare, Akamai; separated by commas).
    cache_tag_header: str = "Surrogate-Key"
    # Called after each write with the tags it changed: POST {"tags": [...]} (see
    # resolvers/cache_purge.py). The authorization is sent as the Authorization header.
    cache_purge_url: str | None = None
    cache_purge_authorization: str | None = Field(default=None, repr=False)
    # Responses from this size on are compressed (brotli or gzip, as the client accepts).
    compression_minimum_bytes: int = Field(default=1_000, ge=0)
    # Draft previews: how long a preview token (createPreviewToken) reads its post.
    preview_token_minutes: int = Field(default=60 * 24, ge=1, le=30 * 24 * 60)
    # extensions.sql (statements an operation sent and their total time): unset means everyone
    # in development and nobody in production; "admins" shows it to admins only.
    sql_report: Literal["everyone", "admins", "nobody"] | None = None
    # Webhooks: this instance sends due deliveries from the outbox (any number of instances may;
    # each delivery is claimed by one). Attempts per delivery, the first retry's delay
    # (doubling after each failure, up to the longest), the request timeout, how often the
    # outbox is polled, and whether http:// endpoints on loopback addresses are accepted (tests
    # and development only: everything else must be https://).
    webhook_delivery_enabled: bool = True
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_retry_first_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_longest_seconds: float = Field(default=3600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_poll_seconds: float = Field(default=2.0, gt=0)
    webhook_batch_size: int = Field(default=20, ge=1, le=1000)
    webhook_allow_loopback_http: bool = False
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    max_request_bytes: int = Field(default=1_000_000, ge=1_000)
    gc_freeze: bool = True
    # Compiled reads: a query the planner covers runs as one SQL statement that builds the
    # response's data in the database; off, every query runs on the resolver path (the
    # reference the differential test compares with).
    compiled_reads: bool = True

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @field_validator(
        "rate_limit_operations",
        "rate_limit_cost",
        "rate_limit_address_operations",
        "rate_limit_sign_ups",
    )
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError naming what it could not read
        return value

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> "Settings":
        if self.env == "production" and (
            self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32
        ):
            raise ValueError(
                "QUIRE_SECRET_KEY must be set to a random secret of at least 32 characters "
                "in production (for example: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        return self

    @model_validator(mode="after")
    def _asymmetric_algorithms_need_keys(self) -> "Settings":
        if not self.jwt_algorithm.startswith("HS") and not (
            self.jwt_private_key and self.jwt_public_key
        ):
            raise ValueError(
                f"QUIRE_JWT_ALGORITHM={self.jwt_algorithm} needs QUIRE_JWT_PRIVATE_KEY and "
                "QUIRE_JWT_PUBLIC_KEY (PEM)"
            )
        return self

    @model_validator(mode="after")
    def _trusted_mode_needs_a_manifest(self) -> "Settings":
        if self.persisted_queries == "trusted" and not self.trusted_documents:
            raise ValueError(
                "QUIRE_PERSISTED_QUERIES=trusted needs QUIRE_TRUSTED_DOCUMENTS (the path of a "
                "JSON manifest of sha256 -> document)"
            )
        return self

    @property
    def jwt_signing_key(self) -> str:
        return self.secret_key if self.jwt_algorithm.startswith("HS") else str(self.jwt_private_key)

    @property
    def jwt_verifying_key(self) -> str:
        return self.secret_key if self.jwt_algorithm.startswith("HS") else str(self.jwt_public_key)

    @property
    def allowed_origins(self) -> list[str]:
        if self.cors_origins is not None:
            return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]
        if self.env == "production":
            return []
        return [
            f"http://{host}:{port}"
            for host in ("localhost", "127.0.0.1")
            for port in (3000, 5173, 8080)
        ]

    @property
    def allowed_request_headers(self) -> list[str]:
        return [h.strip().lower() for h in self.cors_allow_headers.split(",") if h.strip()]

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for network in value.split(","):
            if network.strip():
                ipaddress.ip_network(network.strip(), strict=False)  # ValueError names it
        return value

    @property
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(network.strip(), strict=False)
            for network in self.metrics_allow.split(",")
            if network.strip()
        ]

    @property
    def log_format_effective(self) -> str:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.env == "production" else "text"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.env == "development"

    @property
    def introspection_for(self) -> str:
        if self.introspection is not None:
            return self.introspection
        return "everyone" if self.env == "development" else "nobody"

    @property
    def hide_suggestions(self) -> bool:
        return not (self.suggestions if self.suggestions is not None else self.env == "development")

    @property
    def sql_report_for(self) -> str:
        if self.sql_report is not None:
            return self.sql_report
        return "everyone" if self.env == "development" else "nobody"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
