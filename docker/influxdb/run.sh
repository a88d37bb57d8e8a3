#!/bin/sh
# influxdb:2.7's interface: with DOCKER_INFLUXDB_INIT_MODE=setup, the first start creates
# the user, org, bucket and admin token (on a private port, so the health check passes only
# once that is done); later starts find them in /var/lib/influxdb2.
set -eu
data=/var/lib/influxdb2
set -- --bolt-path "$data/influxd.bolt" --engine-path "$data/engine" \
    --sqlite-path "$data/influxd.sqlite" --reporting-disabled --log-level warn
if [ "${DOCKER_INFLUXDB_INIT_MODE:-}" = setup ] && [ ! -f "$data/.setup-done" ]; then
    influxd "$@" --http-bind-address 127.0.0.1:18086 &
    pid=$!
    until influx ping --host http://127.0.0.1:18086 > /dev/null 2>&1; do sleep 0.5; done
    influx setup --force --host http://127.0.0.1:18086 --name default \
        --username "$DOCKER_INFLUXDB_INIT_USERNAME" --password "$DOCKER_INFLUXDB_INIT_PASSWORD" \
        --org "$DOCKER_INFLUXDB_INIT_ORG" --bucket "$DOCKER_INFLUXDB_INIT_BUCKET" \
        --token "$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN" > /dev/null
    # The CLI's config (for `influx ping` and the like) points at the real port.
    influx config set --config-name default --host-url http://localhost:8086 > /dev/null
    kill -TERM "$pid"
    wait "$pid" || true
    touch "$data/.setup-done"
fi
exec influxd "$@"
