# incident-bot: `incident-bot serve` in HTTP mode on port 3000 (docs/deployment.md).
#
#   podman build -t incident-bot .        (or docker build; BuildKit not required)
#
# BASE_IMAGE is any Debian-like image with Python 3.11 or newer as `python3` and the venv module:
# the official python:3.11-slim by default; .ci/container-check builds on a Debian base made with
# debootstrap, because no image registry is reachable there. Both stages use the same base, so the
# virtual environment built in the first one runs unchanged in the second.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# Index settings for the build only (a mirror, a private index, a company CA bundle mounted for the
# RUN steps): declared in this stage, so none of them reaches the runtime image's configuration.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE constraints.txt ./
# The dependencies first, with the versions CI tested (constraints.txt), in a layer of their own:
# a build after a change to the bot's code alone reuses it.
RUN python3 -m venv /opt/build /opt/incident-bot \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && /opt/incident-bot/bin/pip install --constraint constraints.txt --requirement /tmp/requirements.txt
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
# Then the wheel, installed as a user would install it: the image runs the packaged bot, not a checkout.
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /dist . \
    && /opt/incident-bot/bin/pip install --constraint constraints.txt /dist/incident_bot-*.whl \
    && /opt/incident-bot/bin/pip uninstall --yes pip setuptools \
    && /opt/incident-bot/bin/incident-bot --version

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="incident-bot" \
      org.opencontainers.image.description="Slack incident-command bot" \
      org.opencontainers.image.licenses="MIT"
# A fixed numeric UID, so that Kubernetes' runAsNonRoot can check it and mounted files can be
# owned by it. /data holds the SQLite file of a one-process try-out; production uses PostgreSQL.
RUN useradd --no-log-init --uid 10001 --user-group --no-create-home --home-dir /app --shell /usr/sbin/nologin incident-bot \
    && mkdir -p /app/runbooks /data \
    && chown incident-bot:incident-bot /data
COPY --from=build /opt/incident-bot /opt/incident-bot
ENV PATH=/opt/incident-bot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/incidents.db
# The team's runbooks folder, catalog (runbooks/catalog.yml) and config (runbooks/config.yml) are
# read relative to /app: mount them there, or bake them in with `FROM incident-bot` + `COPY`.
WORKDIR /app
USER 10001:10001
EXPOSE 3000
# No curl in a slim image: the bot's own Python asks /healthz (non-2xx or no answer: exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["incident-bot"]
CMD ["serve"]
