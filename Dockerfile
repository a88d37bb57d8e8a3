# One image for every Millstream service; docker-compose.yml picks the command.
# The operator console is built by npm and esbuild in a stage of its own.
FROM node:20-slim AS console
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web/build.mjs ./
COPY web/src ./src
RUN node build.mjs

FROM python:3.11-slim
WORKDIR /app
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
USER nobody
