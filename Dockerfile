# One image for every Millstream service; docker-compose.yml picks the command.
# The operator console is built by npm and esbuild in a stage of its own.
# Both base images are build arguments (defaults: the public images); any image with
# node and npm, and any with Python 3.11 as `python` plus its venv module, will do.
ARG NODE_IMAGE=node:20-slim
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${NODE_IMAGE} AS console
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web/build.mjs ./
COPY web/src ./src
RUN node build.mjs

FROM ${PYTHON_IMAGE}
WORKDIR /app
RUN python -m venv /opt/millstream
ENV PATH=/opt/millstream/bin:$PATH
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY kafka_edge ./kafka_edge
COPY alarmrules ./alarmrules
COPY connectors ./connectors
COPY pipeline ./pipeline
COPY api ./api
COPY --from=console /src/api/static/console ./api/static/console
COPY infra ./infra
COPY cli ./cli
COPY devices.example.yaml ./
RUN pip install --no-cache-dir .
# State lives under /var/lib/millstream (a volume in docker-compose.yml): the connector's
# spool and the worker's tables. `nobody` has no home, so nothing may default to one.
RUN mkdir -p /var/lib/millstream/spool /var/lib/millstream/pipeline \
    && chown -R nobody /var/lib/millstream
ENV MILLSTREAM_CONNECTOR_SPOOL_DIR=/var/lib/millstream/spool \
    MILLSTREAM_PIPELINE_DATA_DIR=/var/lib/millstream/pipeline
USER nobody
