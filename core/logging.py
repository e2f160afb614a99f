"""structlog set-up: one JSON object per line, with the request id bound by middleware."""

import logging
import os

import structlog

# Header and field names whose values never reach a log line.
REDACTED_KEYS = frozenset(
    {
        "authorization", "x-api-key", "x-goog-api-key", "api_key", "secret", "password", "cookie",
        # The same headers as keyword arguments and as WSGI/ASGI META names.
        "x_api_key", "x_goog_api_key", "http_authorization", "http_x_api_key", "http_cookie",
    }
)


def _redacted(mapping: dict) -> dict:
    return {
        key: "[redacted]" if str(key).lower() in REDACTED_KEYS
        else _redacted(value) if isinstance(value, dict) else value
        for key, value in mapping.items()
    }


def redact_secrets(_logger, _method, event_dict: dict) -> dict:
    # Nested too: a logged `headers={...}` keeps its other fields but loses its Authorization.
    for key in list(event_dict):
        value = event_dict[key]
        if key.lower() in REDACTED_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(value, dict):
            event_dict[key] = _redacted(value)
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_pid,
        redact_secrets,
    ]


def add_pid(_logger, _method, event_dict: dict) -> dict:
    """Which worker process wrote the line (several gunicorn workers share one stream)."""
    event_dict["pid"] = os.getpid()
    return event_dict


def logging_config(*, level: str) -> dict:
    """stdlib logging (Django, Celery, libraries) rendered as the same JSON lines as structlog."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
                "foreign_pre_chain": _shared_processors(),
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Replaces Django's own console handler, so each record is written once, as JSON.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            "django.server": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "httpx2": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure_structlog(*, level: str) -> None:
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
