"""Settings for AI Provider Service, read from the environment only.

Production differs from development only by environment values. With no `DATABASE_URL` and no
`REDIS_URL` the service runs on SQLite and local memory in one process (the embedded default).
"""

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ

from core.logging import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
ENV_FILE = Path(os.environ.get("AI_PROVIDER_ENV_FILE", BASE_DIR / ".env"))
if ENV_FILE.is_file():
    # Values already in the process environment win over the file.
    env.read_env(ENV_FILE, overwrite=False)

SERVICE_NAME = "ai-provider-service"
SERVICE_VERSION = "0.1.0"

DEVELOPMENT_MODE = env.bool("DEVELOPMENT_MODE", default=True)
DEBUG = env.bool("DEBUG", default=DEVELOPMENT_MODE)
AI_PROVIDER_PORT = env.int("AI_PROVIDER_PORT", default=8005)
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_PROMPTS = env.bool("LOG_PROMPTS", default=False)


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEVELOPMENT_MODE:
        # SystemExit with a message: one line on stderr, no traceback, exit status 1.
        raise SystemExit(
            "ai-provider: SECRET_KEY must be set when DEVELOPMENT_MODE is false (production mode)"
        )
    # Development only: a fixed, clearly marked key so sessions survive restarts.
    SECRET_KEY = "development-only-insecure-key-do-not-use-in-production-0123456789"

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["*"] if DEVELOPMENT_MODE else ["localhost", "127.0.0.1", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "corsheaders",
    # The site: its management commands (`serve`: what `make run` and `make demo` start), and the
    # start-up wiring of the settings into core (the shared-state store).
    "aiprovider_site.apps.SiteConfig",
    "providers",
    "routing",
    "access",
    "analytics",
    "operations",
]

MIDDLEWARE = [
    "aiprovider_site.middleware.RequestIdMiddleware",
    "aiprovider_site.middleware.ApiErrorEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "aiprovider_site.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# API calls without a session cookie skip the browser middleware (see aiprovider_site/asgi.py).
API_MIDDLEWARE = [
    "aiprovider_site.middleware.RequestIdMiddleware",
    "aiprovider_site.middleware.ApiErrorEnvelopeMiddleware",
    "aiprovider_site.middleware.InlineSecurityMiddleware",
]

# --- CORS (browser clients calling the API from another origin) -----------------------------------
# Off by default. With origins listed, /api/ and /v1/ answer their CORS preflights and carry the
# Access-Control-* headers for those origins only (never for the admin); keys travel in headers,
# so credentials (cookies) are not allowed cross-origin.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api|v1)/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (
    "accept", "authorization", "cache-control", "content-type", "x-api-key", "x-drop-params", "x-request-id",
    "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access",
)
CORS_EXPOSE_HEADERS = (
    "x-request-id", "x-provider", "x-cache", "x-attempts", "x-dropped-params", "retry-after",
    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset", "request-id", "x-token-count-source",
)
CORS_PREFLIGHT_MAX_AGE = 600
if CORS_ALLOWED_ORIGINS:
    # Outside the error envelope, so that errors (401, 429, ...) are readable by the browser too.
    for _stack in (MIDDLEWARE, API_MIDDLEWARE):
        _stack.insert(_stack.index("aiprovider_site.middleware.ApiErrorEnvelopeMiddleware"),
                      "corsheaders.middleware.CorsMiddleware")

ROOT_URLCONF = "aiprovider_site.urls"
WSGI_APPLICATION = "aiprovider_site.wsgi.application"
ASGI_APPLICATION = "aiprovider_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
VAR_DIR = Path(env.str("AI_PROVIDER_VAR_DIR", default=str(BASE_DIR / "var")))
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'aiprovider.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Writers queue instead of failing with "database is locked" under concurrent async requests.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if "postgresql" in DATABASES["default"]["ENGINE"]:
        # A PostgreSQL that does not answer at all (a network partition) fails a new connection in
        # seconds, so key lookups and the usage writer fall back instead of hanging for minutes.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env.int("DB_CONNECT_TIMEOUT_S", default=5)
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery --------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "aip",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "aip"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL  # without Redis there is no broker: tasks run in process
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Providers ------------------------------------------------------------------------------------
# Provider API keys stay in the environment: the catalogue stores only the NAME of the variable
# (`Provider.api_key_env`), and the adapters read the value when they build a client.
PROVIDER_CATALOGUE_PATH = Path(
    env.str("AI_PROVIDER_CATALOGUE", default=str(BASE_DIR / "config" / "ai-provider" / "ai-provider.yml"))
)


def _provider_overrides(environ_: dict[str, str]) -> tuple[dict[str, int], dict[str, Decimal]]:
    """`<PROVIDER>_MAX_TOKENS` and `<PROVIDER>_COST_PER_TOKEN`, keyed by lower-case provider name."""
    max_tokens: dict[str, int] = {}
    cost_per_token: dict[str, Decimal] = {}
    for name, value in environ_.items():
        if name.endswith("_MAX_TOKENS") and value.strip():
            try:
                max_tokens[name.removesuffix("_MAX_TOKENS").lower()] = int(value)
            except ValueError as exc:
                raise environ.ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc
        elif name.endswith("_COST_PER_TOKEN") and value.strip():
            try:
                cost_per_token[name.removesuffix("_COST_PER_TOKEN").lower()] = Decimal(value)
            except InvalidOperation as exc:
                raise environ.ImproperlyConfigured(f"{name} must be a decimal number, got {value!r}") from exc
    return max_tokens, cost_per_token


PROVIDER_MAX_TOKENS, PROVIDER_COST_PER_TOKEN = _provider_overrides(dict(os.environ))

# Point every provider at the local emulator (development and demos: no keys, no network).
PROVIDER_EMULATOR_URL = env.str("PROVIDER_EMULATOR_URL", default="")
# Each provider's HTTP connection pool, per worker: the most connections open at once (a burst beyond
# it waits for a free one within the request's deadline; 0: no limit), and how long an idle one is
# kept open for the next request.
PROVIDER_POOL_MAX_CONNECTIONS = env.int("PROVIDER_POOL_MAX_CONNECTIONS", default=1000)
PROVIDER_POOL_KEEPALIVE_S = env.float("PROVIDER_POOL_KEEPALIVE_S", default=15.0)
# How often a worker checks the catalogue's version in shared state: an admin edit (priority,
# enabled) reaches every worker within this, plus one reload.
CATALOGUE_REFRESH_S = env.float("CATALOGUE_REFRESH_S", default=0.5)

# --- Routing --------------------------------------------------------------------------------------
ROUTING_STRATEGY = env.str("ROUTING_STRATEGY", default="score")
ROUTING_DEADLINE_S = env.float("ROUTING_DEADLINE_S", default=120.0)
ROUTING_BACKOFF_BASE_S = env.float("ROUTING_BACKOFF_BASE_S", default=0.2)
ROUTING_BACKOFF_MAX_S = env.float("ROUTING_BACKOFF_MAX_S", default=5.0)
# How stale the routing view of stats, breakers and health may be in one worker.
ROUTING_STATE_REFRESH_S = env.float("ROUTING_STATE_REFRESH_S", default=1.0)
BREAKER_FAILURE_RATIO = env.float("BREAKER_FAILURE_RATIO", default=0.5)
BREAKER_MIN_REQUESTS = env.int("BREAKER_MIN_REQUESTS", default=10)
BREAKER_COOLDOWN_S = env.float("BREAKER_COOLDOWN_S", default=30.0)
# Hangs (routing.deadlines, routing.hedging). A stream's first chunk must come within the first-byte
# timeout and each later one within the idle timeout. A call with no first byte (or, non-streamed, no
# answer) after ROUTING_STALL_AFTER_S has stalled; BREAKER_STALLED_CALLS stalls at one provider with
# no answer in between open its circuit. ROUTING_HEDGE_AFTER_S > 0 also races every non-streamed call
# slower than that with the next candidate (0: only once the stalled call's circuit opened).
ROUTING_FIRST_BYTE_TIMEOUT_S = env.float("ROUTING_FIRST_BYTE_TIMEOUT_S", default=15.0)
ROUTING_STREAM_IDLE_TIMEOUT_S = env.float("ROUTING_STREAM_IDLE_TIMEOUT_S", default=30.0)
ROUTING_STALL_AFTER_S = env.float("ROUTING_STALL_AFTER_S", default=3.0)
ROUTING_HEDGE_AFTER_S = env.float("ROUTING_HEDGE_AFTER_S", default=0.0)
BREAKER_STALLED_CALLS = env.int("BREAKER_STALLED_CALLS", default=5)
RESPONSE_CACHE_TTL_S = env.int("RESPONSE_CACHE_TTL_S", default=300)
RESPONSE_CACHE_MAX_ENTRIES = env.int("RESPONSE_CACHE_MAX_ENTRIES", default=10_000)
# One response cache for every client key (off: each key has its own, so no key reads another's
# answers or learns what it asked).
RESPONSE_CACHE_SHARED = env.bool("RESPONSE_CACHE_SHARED", default=False)
# How long thinking signatures and reasoning behind a tool call are kept for the client's next
# turn (see routing/replay.py); 0 keeps none.
REPLAY_TTL_S = env.int("REPLAY_TTL_S", default=3600)
# Usage records are queued and written in batches, off the request path.
USAGE_FLUSH_BATCH = env.int("USAGE_FLUSH_BATCH", default=500)
USAGE_FLUSH_INTERVAL_S = env.float("USAGE_FLUSH_INTERVAL_S", default=2.0)
USAGE_BACKGROUND_WRITER = env.bool("USAGE_BACKGROUND_WRITER", default=True)

# --- Provider health -----------------------------------------------------------------------------
# Each provider's probe (a model listing) is cut off after this long and counts as unhealthy.
HEALTH_PROBE_TIMEOUT_S = env.float("HEALTH_PROBE_TIMEOUT_S", default=10.0)
# A probe that succeeds slower than this makes the provider degraded.
HEALTH_DEGRADED_LATENCY_MS = env.float("HEALTH_DEGRADED_LATENCY_MS", default=2000.0)
# How long a probe round's summary is served from shared state before the next round.
HEALTH_CACHE_TTL_S = env.int("HEALTH_CACHE_TTL_S", default=30)
# The longest /health waits for a probe round before answering with the last known summary.
HEALTH_WAIT_S = env.float("HEALTH_WAIT_S", default=3.0)
# Interval of the periodic probe when `setup_periodic_tasks` first creates it (then: the admin).
HEALTH_PROBE_INTERVAL_S = env.int("HEALTH_PROBE_INTERVAL_S", default=30)
# Days of stored probe results kept; older ones are pruned daily.
HEALTH_RETENTION_DAYS = env.int("HEALTH_RETENTION_DAYS", default=7)
# Probe statuses older than this no longer steer routing (the prober may have stopped).
HEALTH_STATUS_MAX_AGE_S = env.int("HEALTH_STATUS_MAX_AGE_S", default=300)

# Serve /bench/noop, the baseline of the benchmark in bench/ (never in production).
BENCHMARK_NOOP_VIEW = env.bool("BENCHMARK_NOOP_VIEW", default=False)

# --- API ------------------------------------------------------------------------------------------
# Images travel inline (base64 data URLs) and agents send long contexts: 20 MiB by default.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=20 * 1024 * 1024)
# Deepest JSON nesting a request body may have (tool schemas nest; nothing needs more).
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=64)
# Largest request head (request line and headers) the HTTP server reads; larger is a 431
# (aiprovider_site/http_server.py). Browsers send a few KiB, cookies included.
HTTP_MAX_HEADER_BYTES = env.int("HTTP_MAX_HEADER_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "aiprovider_site.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["aiprovider_site.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["aiprovider_site.parsers.StrictJSONParser"],
    # Sync on purpose: adrf runs authentication and permissions in a thread, and plain DRF views
    # (the API docs) cannot run async ones. A staff session counts only where a view allows it
    # (access.permissions.HasAnalyticsScope); every other endpoint needs a client key.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.HasClientKey"],
    "UNAUTHENTICATED_USER": None,
}

# --- Access (client API keys) ---------------------------------------------------------------------
# Seconds a key lookup is cached in each process. Changes reach every worker within
# ACCESS_KEY_VERSION_CHECK_S through a version counter in Redis; this TTL bounds staleness where that
# path is missing (several processes without Redis, an UPDATE that bypasses the model's signals).
ACCESS_KEY_CACHE_TTL_S = env.int("ACCESS_KEY_CACHE_TTL_S", default=5)
# While the database is unreachable, a key whose cached answer expired is still served from it for
# this many seconds more (stale-while-error); a key with nothing cached gets a 503.
ACCESS_KEY_STALE_S = env.int("ACCESS_KEY_STALE_S", default=300)
# How long a request's budget hold lives when it is never settled (a worker died mid-request);
# longer than any request, streams included.
ACCESS_RESERVATION_TTL_S = env.int("ACCESS_RESERVATION_TTL_S", default=900)
ACCESS_KEY_VERSION_CHECK_S = 1.0
# A key's last_used_at is written at most this often.
ACCESS_LAST_USED_INTERVAL_S = 60

# --- Admin login throttling (aiprovider_site/admin_login.py) --------------------------------------
# Failed admin logins per username, and per client address, within ADMIN_LOGIN_LOCKOUT_S seconds of
# the first; past them every login for it is refused, the right password included, until then.
ADMIN_LOGIN_MAX_FAILURES = env.int("ADMIN_LOGIN_MAX_FAILURES", default=5)
ADMIN_LOGIN_ADDRESS_MAX_FAILURES = env.int("ADMIN_LOGIN_ADDRESS_MAX_FAILURES", default=20)
ADMIN_LOGIN_LOCKOUT_S = env.int("ADMIN_LOGIN_LOCKOUT_S", default=900)

SPECTACULAR_SETTINGS = {
    "TITLE": "AI Provider Service",
    "DESCRIPTION": (
        "An LLM gateway in front of OpenAI, Anthropic, Google Gemini and DeepSeek: routing, failover, "
        "response cache, per-key limits and cost accounting."
    ),
    "VERSION": SERVICE_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Nothing leaves the machine: no validator badge (swagger.io), no web fonts (the Redoc template
    # in templates/drf_spectacular/ drops Google Fonts for the system's own).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"},
                "code": {"fontFamily": "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"},
            }
        }
    },
    "COMPONENT_SPLIT_REQUEST": True,
    # Every status the shared machinery answers is listed on each operation (aiprovider_site/docs.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "aiprovider_site.docs.schema_common_responses",
    ],
}

# --- Observability --------------------------------------------------------------------------------
LANGFUSE_HOST = env.str("LANGFUSE_HOST", default="")
LANGFUSE_PUBLIC_KEY = env.str("LANGFUSE_PUBLIC_KEY", default="")
LANGFUSE_SECRET_KEY = env.str("LANGFUSE_SECRET_KEY", default="")
# Seconds one export to Langfuse may take (in the background: never on a request's path).
LANGFUSE_TIMEOUT_S = env.int("LANGFUSE_TIMEOUT_S", default=5)
# GET /metrics (Prometheus): with a token it needs `Authorization: Bearer <token>`; without one it
# is open in development mode, and in production only when METRICS_PUBLIC is true (else a 403).
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)
# PROMETHEUS_MULTIPROC_DIR (read by prometheus-client itself): set under gunicorn with several
# workers, to a directory emptied at every start; see analytics/metrics.py.

LOGGING = logging_config(level=LOG_LEVEL)

# --- Static files, i18n ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collectstatic (make run in production mode) whitenoise serves straight from the finders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEVELOPMENT_MODE:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Health probes from orchestrators and load balancers speak plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^status$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a commitment for the whole domain (browsers' built-in list, slow to undo),
        # so it stays an explicit opt-in: with it off, the reminder is not a finding.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

configure_structlog(level=LOG_LEVEL)
