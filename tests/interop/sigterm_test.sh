#!/usr/bin/env bash
# SIGTERM during a burst of calls: 64 concurrent clients hammer reseller-svc (authenticated and
# public methods); SIGTERM arrives mid-burst. Every call must end OK, or UNAVAILABLE when it was
# refused because the server was already draining: nothing CANCELLED, INTERNAL or lost. The
# process must exit 0 (under ASan/LSan a leak or error makes the exit status non-zero).
. "$(dirname "$0")/lib.sh"

start_db
start_svc reseller
tok=$(token --role reseller --sub op@r-1 --reseller r-1)
target=127.0.0.1:${PORT[reseller]}
"$BUILD/tools/loadgen" --target "$target" --concurrency 48 --duration-ms 3000 \
    >"$T/health.json" &
lg1=$!
"$BUILD/tools/loadgen" --target "$target" --concurrency 16 --duration-ms 3000 --token "$tok" \
    --method /reseller.v1.QuotaService/GetQuota >"$T/quota.json" &
lg2=$!
sleep 1
stop_svc reseller
wait $lg1 || true
wait $lg2 || true
for f in health quota; do
    line=$(cat "$T/$f.json")
    echo "$f: $line"
    calls=$(sed -n 's/.*"calls":\([0-9]*\).*/\1/p' <<<"$line")
    [[ ${calls:-0} -gt 0 ]] || fail "$f: no calls made"
    codes=$(sed -n 's/.*"codes":{\(.*\)}}.*/\1/p' <<<"$line")
    # Allowed outcomes: the method's normal answer before the drain, UNAVAILABLE after it.
    bad=$(tr ',' '\n' <<<"$codes" | grep -vE '^"(OK|UNAVAILABLE|UNIMPLEMENTED)":' || true)
    [[ -z $bad ]] || fail "$f: unexpected outcomes during shutdown: $bad"
done
grep -q '"msg":"stopped"' "$T/reseller.log" || fail "no clean stop logged"
ok "SIGTERM mid-burst: every call completed or was refused cleanly; exit 0"
