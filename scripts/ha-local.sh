#!/usr/bin/env bash
# The high-availability topology on one machine: a local PostgreSQL, two control planes on
# it, and two data planes, each preferring a different control plane and failing over to
# the other. Ctrl-C stops everything (the database's files stay in DIR for the next run).
#
# Usage: scripts/ha-local.sh [DIR]      state in DIR (default ./ha-data)
# Ports: MCPGW_HA_PORT_BASE (default 18000): control planes' REST on +0 and +10, gRPC on
# +1 and +11; data planes on +2 and +12; PostgreSQL on +5.
# Needs the PostgreSQL server binaries (Debian: apt-get install postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(realpath -m "${1:-ha-data}")
BASE=${MCPGW_HA_PORT_BASE:-18000}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ]; then
  echo "PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
  exit 1
fi
cargo build -q --bin control-plane --bin data-plane
BIN=target/debug

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
mkdir -p "$DIR/pg" "$DIR/cp"
if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR/pg"; fi
if [ ! -f "$DIR/pg/data/PG_VERSION" ]; then
  as_postgres "$PGBIN/initdb" -A trust -U mcpgw -E UTF8 -D "$DIR/pg/data" >/dev/null
fi
PGPORT=$((BASE + 5))
as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/log" -w \
  -o "-p $PGPORT -k $DIR/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U mcpgw mcpgw 2>/dev/null || true
URL="postgres://mcpgw@127.0.0.1:$PGPORT/mcpgw?sslmode=disable"

pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m fast stop >/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wait_for() { # FILE TEXT
  for _ in $(seq 1 300); do
    if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2
  exit 1
}

# Both control planes share the dev secrets the first one generates in $DIR/cp (a real
# deployment sets MCPGW_JWT_SECRET, MCPGW_DATA_PLANE_TOKEN and MCPGW_MASTER_KEY instead).
for i in 0 1; do
  "$BIN/control-plane" --data-dir "$DIR/cp" --database-url "$URL" \
    --http-listen "127.0.0.1:$((BASE + 10 * i))" --grpc-listen "127.0.0.1:$((BASE + 10 * i + 1))" \
    --public-mcp-url "http://127.0.0.1:$((BASE + 2))" \
    >"$DIR/cp$i.out" 2>"$DIR/cp$i.log" &
  pids+=($!)
  wait_for "$DIR/cp$i.out" "control plane ready"
done
CPS=("http://127.0.0.1:$((BASE + 1))" "http://127.0.0.1:$((BASE + 11))")
for i in 0 1; do
  other=$((1 - i))
  "$BIN/data-plane" --listen "127.0.0.1:$((BASE + 10 * i + 2))" \
    --control-plane "${CPS[$i]},${CPS[$other]}" \
    --data-plane-token-file "$DIR/cp/dev-data-plane-token" --data-plane-id "dp$i" \
    >"$DIR/dp$i.out" 2>"$DIR/dp$i.log" &
  pids+=($!)
done
TOKEN=$(grep -A1 "admin JWT" "$DIR/cp0.out" | tail -1 | tr -d ' ')
cat <<TEXT
high-availability gateway running (state and logs in $DIR)
  PostgreSQL:       $URL
  control planes:   REST http://127.0.0.1:$BASE and http://127.0.0.1:$((BASE + 10))
                    gRPC ${CPS[0]} and ${CPS[1]}
  data planes:      http://127.0.0.1:$((BASE + 2)) and http://127.0.0.1:$((BASE + 12))
  admin JWT (dev secret, all tenants, 12 h):
    $TOKEN
  process ids:      control planes ${pids[0]} ${pids[1]}, data planes ${pids[2]} ${pids[3]}
Write through either control plane; kill -9 one and the data planes keep serving and follow
the other. Ctrl-C stops everything.
TEXT
wait
