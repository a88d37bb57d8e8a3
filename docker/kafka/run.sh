#!/bin/sh
# apache/kafka's interface: every KAFKA_FOO_BAR variable becomes foo.bar in the broker's
# properties; the storage is formatted once with CLUSTER_ID (or a fixed default).
set -eu
props=/opt/kafka/server.properties
: > "$props"
env | grep '^KAFKA_' | while IFS='=' read -r name value; do
    key=$(echo "${name#KAFKA_}" | tr 'A-Z_' 'a-z.')
    echo "$key=$value" >> "$props"
done
grep -q '^log.dirs=' "$props" || echo "log.dirs=/var/lib/kafka/data" >> "$props"
logdir=$(sed -n 's/^log.dirs=//p' "$props")
cp="/opt/kafka/libs/*"
if [ ! -f "$logdir/meta.properties" ]; then
    java -cp "$cp" kafka.tools.StorageTool format -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" \
        -c "$props" --ignore-formatted
fi
exec java -Xmx${KAFKA_HEAP_MB:-512}m -XX:+UseG1GC -Djava.awt.headless=true \
    -cp "$cp" kafka.Kafka "$props"
