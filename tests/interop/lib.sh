# tests/interop/lib.sh - start a private MariaDB and the services for an interop test (sourced).
# Expects: BUILD (build dir), ROOT (source dir). Provides: start_db, start_svc NAME, stop_svc
# NAME, token ROLE ARGS..., bufcurl ARGS..., and a cleanup trap. Every resource lives in $T.
# shellcheck shell=bash
set -euo pipefail

ROOT=${ROOT:?}
BUILD=${BUILD:?}
BUF=${BUF:-$ROOT/.tools/node_modules/.bin/buf}
T=$(mktemp -d /tmp/vci.XXXXXX) # short: the MariaDB socket path must stay < 108 bytes
declare -A PID PORT MPORT

fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/*.log; do
        [[ -f $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
    done
    exit 1
}
ok() { echo "ok: $*"; }

cleanup() {
    for n in "${!PID[@]}"; do kill -KILL "${PID[$n]}" 2>/dev/null || true; done
    "$ROOT/scripts/mariadb" stop "$T/db" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

start_db() {
    "$ROOT/scripts/mariadb" start "$T/db" >/dev/null
    "$ROOT/scripts/mariadb" create-db "$T/db" reseller reseller pw-reseller >/dev/null
    "$ROOT/scripts/mariadb" create-db "$T/db" approval approval pw-approval >/dev/null
    head -c 48 /dev/urandom | base64 -w0 >"$T/jwt.key"
}

svc_flags() {
    echo --db-socket "$T/db/mysqld.sock" --db-user "$1" --db-password "pw-$1" --db-name "$1" \
        --jwt-secret-file "$T/jwt.key"
}

# start_svc NAME [extra flags] - migrate, start on free ports, wait until ready.
start_svc() {
    local n=$1
    shift
    local bin=$BUILD/$n-svc/$n-svc
    # shellcheck disable=SC2046
    "$bin" --migrate $(svc_flags "$n") >>"$T/$n.log" 2>&1 || fail "$n --migrate"
    rm -f "$T/$n.ready"
    # shellcheck disable=SC2046
    "$bin" $(svc_flags "$n") --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
        --ready-file "$T/$n.ready" "$@" >>"$T/$n.log" 2>&1 &
    PID[$n]=$!
    for _ in $(seq 1 300); do
        [[ -s $T/$n.ready ]] && break
        kill -0 "${PID[$n]}" 2>/dev/null || fail "$n exited during start-up"
        sleep 0.1
    done
    [[ -s $T/$n.ready ]] || fail "$n not ready"
    PORT[$n]=$(sed -n 's/^grpc_port=//p' "$T/$n.ready")
    MPORT[$n]=$(sed -n 's/^metrics_port=//p' "$T/$n.ready")
}

# stop_svc NAME - SIGTERM and require exit status 0 (sanitizer reports make it non-zero).
stop_svc() {
    local n=$1 rc=0
    kill -TERM "${PID[$n]}"
    wait "${PID[$n]}" || rc=$?
    unset "PID[$n]"
    [[ $rc -eq 0 ]] || fail "$n exited with $rc after SIGTERM"
}

token() { "$BUILD/tools/vc-token" --secret-file "$T/jwt.key" "$@"; }

# bufcurl NAME PATH [args] - buf curl against a service; stdout+stderr captured.
bufcurl() {
    local n=$1 path=$2
    shift 2
    "$BUF" curl --protocol grpc --http2-prior-knowledge --timeout 10s "$@" \
        "http://127.0.0.1:${PORT[$n]}$path" 2>&1
}
