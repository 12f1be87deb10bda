# syntax=docker/dockerfile:1
# Build stage: install the package and compile the translation catalogs.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY content ./content
COPY outreach ./outreach
RUN pip install .
COPY locales ./locales
RUN pybabel compile -d locales --statistics

# Runtime stage: the virtualenv, the compiled catalogs, an unprivileged user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 outreach
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/locales /app/locales
WORKDIR /app
RUN mkdir -p /app/var && chown outreach:outreach /app/var
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OUTREACH_ENV=prod \
    OUTREACH_HOST=0.0.0.0 \
    OUTREACH_LOCALES_DIR=/app/locales \
    OUTREACH_DATABASE_URL=sqlite+aiosqlite:////app/var/outreach.db
USER outreach
EXPOSE 8000
VOLUME ["/app/var"]
# The health check asks the port the server listens on (OUTREACH_PORT), after a start period.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OUTREACH_PORT', '8000'), timeout=2)"
# Migrations are not run on start (replicas would race): run `outreach db upgrade` once
# per release; `serve` refuses to start on a database that is behind.
CMD ["outreach", "serve"]
