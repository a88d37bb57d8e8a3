# One image for every Millstream service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY alarmrules ./alarmrules
COPY connectors ./connectors
COPY pipeline ./pipeline
COPY api ./api
COPY infra ./infra
COPY cli ./cli
COPY devices.example.yaml ./
RUN pip install --no-cache-dir .
USER nobody
