#!/bin/sh
# The health check docker-compose.yml runs, as apache/kafka ships it.
exec java -Xmx64m -cp '/opt/kafka/libs/*' -Dlog4j.configuration=file:/dev/null \
    kafka.admin.BrokerApiVersionsCommand "$@"
