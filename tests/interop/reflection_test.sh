#!/usr/bin/env bash
# Foundation interop test, through buf curl and server reflection against both real services on
# a private MariaDB: every API.md method is listed; Health/Check answers SERVING; calls without a
# token are UNAUTHENTICATED and with a wrong role PERMISSION_DENIED; health turns NOT_SERVING
# when MariaDB stops and SERVING when it returns, without a restart; SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"

start_db
start_svc reseller --health-interval-ms 200
start_svc approval --health-interval-ms 200

for n in reseller approval; do
    out=$(bufcurl "$n" "" --list-methods) || fail "$n list-methods: $out"
    diff <(sort <<<"$out") "$ROOT/tests/interop/methods_$n.txt" >"$T/diff" ||
        fail "$n methods differ from API.md: $(cat "$T/diff")"
    ok "$n lists every API.md method ($(wc -l <<<"$out") methods)"
    out=$(bufcurl "$n" /grpc.health.v1.Health/Check)
    grep -q '"status": *"SERVING"' <<<"$out" || fail "$n health: $out"
    ok "$n Health/Check SERVING"
    # A message type is resolvable by symbol (buf curl describes the request through reflection).
    out=$(bufcurl "$n" /grpc.health.v1.Health/Check -d '{"service":"nope"}') && fail "unknown service accepted"
    grep -qi 'not_found' <<<"$out" || fail "$n health unknown service: $out"
done

out=$(bufcurl reseller /reseller.v1.QuotaService/GetQuota -d '{}') && fail "no token accepted: $out"
grep -qi unauthenticated <<<"$out" || fail "expected unauthenticated: $out"
out=$(bufcurl reseller /reseller.v1.QuotaService/GetQuota -H "authorization: Bearer garbage") &&
    fail "garbage token accepted"
grep -qi unauthenticated <<<"$out" || fail "expected unauthenticated for a bad token: $out"
ok "calls without a valid token are UNAUTHENTICATED"

customer=$(token --role customer --sub c@x --reseller r-1 --customer c-1 --customer-role owner)
out=$(bufcurl reseller /reseller.v1.QuotaService/GetQuota -H "authorization: Bearer $customer") &&
    fail "customer accepted on QuotaService: $out"
grep -qi permission_denied <<<"$out" || fail "expected permission_denied: $out"
reseller=$(token --role reseller --sub op@r-1 --reseller r-1)
out=$(bufcurl approval /approval.v1.StaffService/ListTickets -H "authorization: Bearer $reseller") &&
    fail "reseller accepted on StaffService: $out"
grep -qi permission_denied <<<"$out" || fail "expected permission_denied: $out"
ok "wrong roles are PERMISSION_DENIED"

# Metrics endpoint counts the calls above.
curl -sf "http://127.0.0.1:${MPORT[reseller]}/metrics" >"$T/metrics" || fail "metrics endpoint"
grep -q 'vc_rpc_requests_total{.*method="/reseller.v1.QuotaService/GetQuota".*code="UNAUTHENTICATED"' "$T/metrics" ||
    fail "metrics lack the GetQuota UNAUTHENTICATED counter: $(grep GetQuota "$T/metrics" | head -3)"
grep -q '^vc_outbox_pending_messages' "$T/metrics" || fail "no outbox backlog gauge"
ok "metrics count calls by method and code, and show the outbox backlog"

# Database down -> NOT_SERVING within a few seconds; back -> SERVING; same processes.
health_is() { # health_is NAME STATUS SECONDS
    for _ in $(seq 1 $(($3 * 5))); do
        bufcurl "$1" /grpc.health.v1.Health/Check | grep -q "\"status\": *\"$2\"" && return 0
        sleep 0.2
    done
    return 1
}
"$ROOT/scripts/mariadb" stop "$T/db" >/dev/null
for n in reseller approval; do
    health_is "$n" NOT_SERVING 5 || fail "$n still SERVING 5 s after MariaDB stopped"
done
ok "health NOT_SERVING while MariaDB is down"
"$ROOT/scripts/mariadb" start "$T/db" >/dev/null
for n in reseller approval; do
    health_is "$n" SERVING 10 || fail "$n not SERVING 10 s after MariaDB came back"
    kill -0 "${PID[$n]}" || fail "$n restarted"
done
ok "health SERVING again after MariaDB returned, no restart"

stop_svc reseller
stop_svc approval
ok "both services exit 0 on SIGTERM"
echo "reflection_test: all checks passed"
