#!/usr/bin/env bash
# SIGTERM during a burst of calls: 64 concurrent clients hammer reseller-svc (authenticated and
# public methods) and SIGTERM arrives mid-burst. Every call the server admitted must complete
# (the server log shows no cancelled call and the drain cancelled none); calls arriving while it
# drains are refused with UNAVAILABLE. The only other outcome allowed is CANCELLED from gRPC core
# for a call still queued, never started, at the instant the port closes: at most one per client
# thread (a client that ignores UNAVAILABLE and keeps hammering). The process must exit 0 (under
# ASan/LSan a leak or memory error makes the exit status non-zero). Client deadlines are long
# (30 s) so that a slow, loaded machine cannot turn an admitted call into a client-side cancel.
. "$(dirname "$0")/lib.sh"

start_db
start_svc reseller
tok=$(token --role reseller --sub op@r-1 --reseller r-1)
target=127.0.0.1:${PORT[reseller]}
"$BUILD/tools/loadgen" --target "$target" --concurrency 48 --duration-ms 3000 --timeout-ms 30000 \
    >"$T/health.json" &
lg1=$!
"$BUILD/tools/loadgen" --target "$target" --concurrency 16 --duration-ms 3000 --timeout-ms 30000 --token "$tok" \
    --method /reseller.v1.QuotaService/GetQuota >"$T/quota.json" &
lg2=$!
sleep 1
stop_svc reseller
wait $lg1 || true
wait $lg2 || true
declare -A CLIENTS=([health]=48 [quota]=16)
for f in health quota; do
    line=$(cat "$T/$f.json")
    echo "$f: $line"
    calls=$(sed -n 's/.*"calls":\([0-9]*\).*/\1/p' <<<"$line")
    [[ ${calls:-0} -gt 0 ]] || fail "$f: no calls made"
    codes=$(sed -n 's/.*"codes":{\(.*\)}}.*/\1/p' <<<"$line")
    # Allowed outcomes: the method's normal answer before the drain, UNAVAILABLE after it.
    bad=$(tr ',' '\n' <<<"$codes" | grep -vE '^"(OK|UNAVAILABLE|UNIMPLEMENTED|CANCELLED)":' || true)
    [[ -z $bad ]] || fail "$f: unexpected outcomes during shutdown: $bad"
    cancelled=$(sed -n 's/.*"CANCELLED":\([0-9]*\).*/\1/p' <<<"$codes")
    [[ ${cancelled:-0} -le ${CLIENTS[$f]} ]] || fail "$f: $cancelled calls cancelled (more than one per client)"
done
grep -q '"msg":"stopped","cancelled_calls":0' "$T/reseller.log" || fail "drain had to cancel calls"
grep -q '"status":"CANCELLED"' "$T/reseller.log" && fail "an admitted call was cancelled"
ok "SIGTERM mid-burst: every call completed or was refused cleanly; exit 0"
