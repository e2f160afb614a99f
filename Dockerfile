# syntax=docker/dockerfile:1
# Build stage: a virtualenv from the lock (runtime dependencies only), then the static files.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY requirements/lock-runtime.txt requirements/lock-runtime.txt
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements/lock-runtime.txt
COPY . .
RUN DEVELOPMENT_MODE=false SECRET_KEY=collectstatic-only STATIC_ROOT=/app/static \
    /opt/venv/bin/python manage.py collectstatic --noinput

# Runtime stage: slim, non-root, nothing from the build but the virtualenv, the code and the assets.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=app:app /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DEVELOPMENT_MODE=false \
    AI_PROVIDER_HOST=0.0.0.0 \
    AI_PROVIDER_PORT=8005 \
    STATIC_ROOT=/app/static \
    AI_PROVIDER_VAR_DIR=/tmp/ai-provider
USER app
EXPOSE 8005
HEALTHCHECK --interval=30s --timeout=5s --start-period=45s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('AI_PROVIDER_PORT', '8005') + '/health', timeout=4)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "aiprovider_site.asgi:application"]
