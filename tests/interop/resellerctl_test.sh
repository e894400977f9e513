#!/usr/bin/env bash
# resellerctl end to end against a real reseller-svc on a private MariaDB: every command on its
# success path (human tables and --json), idempotent retries with --request-id, paging with
# --limit/--all, bad input (exit 1, INVALID_ARGUMENT naming the field, nothing written), another
# reseller's data (NOT_FOUND, never listed), usage errors (exit 2). Review outcomes and quota
# grants are delivered the way approval-svc delivers them: ReviewCallbackService/ReviewDecided
# with a service token (through buf curl), usage the way billing reports it (ReportUsage).
# `alerts watch` runs in the background while alarms are raised, and ends with Ctrl-C (exit 0)
# or with the server (exit 1). approval-svc itself is not started.
. "$(dirname "$0")/lib.sh"

CTL=$BUILD/tools/resellerctl
[[ -x $CTL ]] || fail "$CTL not built"

# ctl WANT_RC ARGS... - runs resellerctl; stdout in $out, stderr in $err; fails on another status.
ctl() {
    local want=$1 rc=0
    shift
    "$CTL" "$@" >"$T/out" 2>"$T/err" || rc=$?
    out=$(cat "$T/out")
    err=$(cat "$T/err")
    [[ $rc -eq $want ]] || fail "resellerctl $* exited $rc, want $want
stdout: $out
stderr: $err"
}
# has TEXT PATTERN WHAT - grep -E, failing with WHAT when absent.
has() { grep -Eq -- "$2" <<<"$1" || fail "$3: no /$2/ in:
$1"; }
hasnt() { ! grep -Eq -- "$2" <<<"$1" || fail "$3: unexpected /$2/ in:
$1"; }
# jget KEY - first string value of "KEY" in the indented JSON on stdin.
jget() { sed -n "s/^ *\"$1\": \"\([^\"]*\)\",\{0,1\}\$/\1/p" | head -n 1; }
jcount() { grep -c "^ *\"$1\": " || true; }
# An error must name its code and the offending field, and write nothing.
invalid() { # invalid FIELD
    has "$err" "^resellerctl: INVALID_ARGUMENT: " "status line"
    has "$err" "fields: ([^)]*,)?$1[,)]" "field $1"
}
# decide MSG SUBJECT_TYPE SUBJECT OUTCOME [extra JSON] - a review outcome, as approval-svc sends it.
decide() {
    local body="{\"messageId\":\"$1\",\"ticketId\":\"tkt-$1\",\"subjectType\":\"$2\",\
\"subjectId\":\"$3\",\"resellerId\":\"r-ctl\",\"outcome\":\"$4\",\"reason\":\"ok\",\
\"decidedBy\":\"staff@provider\"${5:-}}"
    local o
    o=$(bufcurl reseller /reseller.v1.ReviewCallbackService/ReviewDecided \
        -H "authorization: Bearer $service" -d "$body") || fail "ReviewDecided $1: $o"
}

start_db
start_svc reseller
export RESELLER_ADDR=127.0.0.1:${PORT[reseller]}
TOKEN_RESELLER=$(token --role reseller --sub op@r-ctl --reseller r-ctl)
export TOKEN_RESELLER
other=$(token --role reseller --sub op@r-other --reseller r-other)
service=$(token --role service --sub approval-svc)
staff=$(token --role staff --sub reviewer@provider)

# --- usage ------------------------------------------------------------------------------------
ctl 0 --help
help=$out
for c in quota entries apply applications "templates list" "templates get" "templates create" \
    "templates update" "customers create" "customers list" issue batch-issue "vouchers list" \
    "vouchers get" cancel withdraw summary "customers credit" allocations alerts "alerts watch"; do
    has "$help" "^  $c " "--help lists $c"
    # shellcheck disable=SC2086 # "templates list" is two words on purpose
    ctl 0 $c --help
    has "$out" "^usage: resellerctl $c" "$c --help"
done
ctl 2 bogus
has "$err" 'unknown command "bogus"' "unknown command"
ctl 2 templates
ctl 2 quota --nope
ctl 2 templates get
ctl 2 vouchers list --status sideways
has "$err" "pending_review" "status choices listed"
ctl 2 --currency cn quota
ctl 2 templates create --face 1.234 --currency CNY
has "$err" "--face" "bad amount names the flag"
ctl 2 templates update tpl_x --etag e
has "$err" "nothing to update" "empty update refused"
ctl 2 templates create --days 3 --from 2030-01-01 --currency CNY
ctl 2 templates create --until 2030-13-01 --currency CNY
has "$err" "RFC 3339" "bad time"
ok "usage errors exit 2 and say why"

ctl 1 --token garbage quota
has "$err" "^resellerctl: UNAUTHENTICATED: " "bad token"
ctl 1 --token "$staff" templates list
has "$err" "^resellerctl: PERMISSION_DENIED: " "staff on TemplateService"
ctl 1 --addr 127.0.0.1:1 --timeout-ms 2000 quota
has "$err" "^resellerctl: UNAVAILABLE: " "no server"
ok "call errors exit 1 with the gRPC code"

# --- quota, grants, applications, ledger ------------------------------------------------------
ctl 0 quota
has "$out" "reseller r-ctl, currency CNY" "quota header"
has "$out" "^voucher quota +0\.00 CNY" "quota starts at 0"
ctl 0 --json quota
[[ $(jget resellerId <<<"$out") == r-ctl ]] || fail "quota JSON: $out"
[[ $(jget currencyCode <<<"$out") == CNY ]] || fail "quota JSON currency: $out"
if command -v python3 >/dev/null; then
    python3 -m json.tool <<<"$out" >/dev/null || fail "quota --json is not JSON: $out"
fi
ctl 1 quota --reseller r-other
has "$err" "PERMISSION_DENIED" "a reseller naming another reseller"

decide m-grant-1 REVIEW_SUBJECT_TYPE_QUOTA_APPLICATION grant-1 REVIEW_OUTCOME_APPROVED \
    ',"grantedAmountMinor":"100000","currencyCode":"CNY","directGrant":true'
ctl 0 quota
has "$out" "^voucher quota +1,000\.00 CNY +0\.00 CNY +0\.00 CNY +- +1,000\.00 CNY" "granted quota"
ctl 0 --token "$staff" quota --reseller r-ctl
has "$out" "^voucher quota +1,000\.00 CNY" "staff reads a named reseller's quota"
ctl 1 --token "$staff" quota
invalid reseller_id
ok "quota shows the direct grant (1,000.00 CNY); staff must name the reseller"

ctl 0 apply --kind quota --amount 500.00 --reason "spring campaign" --request-id rq-apply-1
has "$out" "^state +PENDING" "application pending"
has "$out" "^requested +500\.00 CNY" "requested amount"
app=$(sed -n 's/^application  *//p' <<<"$out")
[[ -n $app ]] || fail "no application id: $out"
ctl 0 --json apply --kind quota --amount 500.00 --reason "spring campaign" --request-id rq-apply-1
[[ $(jget applicationId <<<"$out") == "$app" ]] || fail "retry made another application: $out"
ctl 0 apply --kind pool --amount 20 --reason "credit for customers"
has "$err" "^resellerctl: request id [0-9a-f-]{36} " "generated request id printed"
ctl 1 apply --kind quota --amount -5 --reason x
invalid amount_minor
ctl 0 --json applications --all
[[ $(jcount applicationId <<<"$out") -eq 3 ]] || fail "applications: want 3 (grant + 2): $out"
ctl 0 applications --kind quota --state pending
has "$out" "^$app +VOUCHER_QUOTA +500\.00 CNY +- +PENDING " "application row"
hasnt "$out" "CREDIT_POOL" "kind filter"
ok "apply (idempotent on --request-id), applications, bad amount is INVALID_ARGUMENT"

ctl 0 entries
has "$out" "VOUCHER_QUOTA +GRANT +\+1,000\.00 CNY +1,000\.00 CNY +grant-1 " "ledger grant row"
ctl 0 --json entries --account quota
[[ $(jget amountMinor <<<"$out") == 100000 ]] || fail "entries JSON: int64 as string: $out"

# --- customers --------------------------------------------------------------------------------
for i in 1 2 3; do ctl 0 customers create --id acct-ctl-$i --name "客户 $i" --email c$i@example.com; done
has "$out" "^customer +acct-ctl-3" "customer shown"
ctl 1 customers create --id acct-ctl-1 --name again
has "$err" "ALREADY_EXISTS" "duplicate customer"
ctl 1 customers create --id "" --name nobody
invalid customer.customer_id
ctl 0 customers list
[[ $(grep -c '^acct-ctl-' <<<"$out") -eq 3 ]] || fail "customers list: $out"
ctl 0 customers list --query ctl-2
has "$out" "^acct-ctl-2 " "query" && hasnt "$out" "acct-ctl-1" "query filters"
ctl 0 customers get acct-ctl-1
has "$out" "^credit +0\.00 CNY" "customer credit"
ctl 0 --token "$other" customers list
hasnt "$out" "acct-ctl" "another reseller lists our customers"
ctl 1 --token "$other" customers get acct-ctl-1
has "$err" "NOT_FOUND" "another reseller's customer"
ok "customers create/list/get, duplicates, foreign tenant"

# --- templates --------------------------------------------------------------------------------
ctl 0 --json templates create --name "Spring 100" --face 100.00 --funding provider --all \
    --exclude gpu.a100 --modes prepaid,postpaid --days 30 --min-order 10.00 --request-id rq-tpl-1
tp=$(jget templateId <<<"$out")
etag=$(jget etag <<<"$out")
[[ -n $tp && -n $etag ]] || fail "template JSON lacks id/etag: $out"
[[ $(jget faceValueMinor <<<"$out") == 10000 ]] || fail "face value: $out"
has "$out" '"funding": "FUNDING_PROVIDER_FUNDED"' "enum by name"
has "$out" '"daysAfterActivation": 30' "oneof member"
ctl 0 --json templates create --name "Spring 100" --face 100.00 --funding provider --all \
    --exclude gpu.a100 --modes prepaid,postpaid --days 30 --min-order 10.00 --request-id rq-tpl-1
[[ $(jget templateId <<<"$out") == "$tp" ]] || fail "template retry created another: $out"
ctl 0 templates create --name "Own cost" --face 50 --funding reseller --products ecs,rds \
    --modes postpaid --from 2030-01-01T00:00:00Z --until 2031-01-01T08:00:00+08:00 --multi-use
has "$out" "^validity +2030-01-01T00:00:00Z to 2031-01-01T00:00:00Z" "fixed window (offset)"
has "$out" "^products +ecs, rds" "specified products"
has "$out" "^conditions +MULTI_USE" "multi-use"
tr=$(sed -n 's/^template  *//p' <<<"$out")
ctl 0 templates list
before=$(grep -c '^tpl_' <<<"$out")
[[ $before -eq 2 ]] || fail "templates list: $out"
ctl 1 templates create --name "Zero" --face 0 --funding provider --all --modes prepaid --days 1
invalid template.face_value_minor
ctl 1 templates create --name "" --face 1 --funding provider --all --modes prepaid --days 1
invalid template.name
ctl 0 templates list
[[ $(grep -c '^tpl_' <<<"$out") -eq $before ]] || fail "a refused create wrote a template: $out"
ctl 0 templates get "$tp"
has "$out" "^face value +100\.00 CNY" "face value formatted"
has "$out" "^products +all products except gpu\.a100" "scope"
has "$out" "^state +EDITABLE" "editable"
ctl 0 templates update "$tp" --etag "$etag" --name "Spring 120" --face 120.00
has "$out" "^name +Spring 120" "updated name"
has "$out" "^face value +120\.00 CNY" "updated face"
has "$out" "^validity +30 days after activation" "untouched field kept"
ctl 1 templates update "$tp" --etag "$etag" --remarks stale
has "$err" "ABORTED" "stale etag"
ctl 0 templates list --name "spring"
has "$out" "^$tp +Spring 120 +120\.00 CNY +PROVIDER_FUNDED +EDITABLE +0 " "list row"
hasnt "$out" "$tr" "name filter"
ctl 0 templates list --product rds --funding reseller
has "$out" "^$tr " "product filter"
ctl 1 --token "$other" templates get "$tp"
has "$err" "NOT_FOUND" "another reseller's template"
ctl 0 --token "$other" templates list
hasnt "$out" "tpl_" "another reseller lists our templates"
ok "templates create (idempotent)/get/update (etag)/list, bad input, foreign tenant"

# --- issuance ---------------------------------------------------------------------------------
ctl 0 issue --template "$tp" --customer acct-ctl-1 --request-id rq-issue-1
has "$out" "^status +PENDING_REVIEW" "provider-funded voucher pending"
v1=$(sed -n 's/^voucher  *//p' <<<"$out")
ctl 0 --json issue --template "$tp" --customer acct-ctl-1 --request-id rq-issue-1
[[ $(jget voucherId <<<"$out") == "$v1" ]] || fail "issue retry issued again: $out"
ctl 0 quota
has "$out" "^voucher quota +1,000\.00 CNY +120\.00 CNY +0\.00 CNY +- +880\.00 CNY" "quota consumed once"
ctl 1 issue --template "$tp" --customer acct-nobody
has "$err" "NOT_FOUND" "unknown customer"
ctl 1 --token "$other" issue --template "$tp" --customer acct-ctl-1
has "$err" "NOT_FOUND" "another reseller's template and customer"
ctl 1 templates update "$tp" --etag "$etag" --remarks locked
has "$err" "FAILED_PRECONDITION" "locked template"
ctl 0 issue --template "$tp" --customer acct-ctl-2 --request-id rq-issue-2
v2=$(sed -n 's/^voucher  *//p' <<<"$out")

ctl 1 batch-issue --template "$tr" --customers acct-ctl-2,acct-ctl-3,acct-nobody --request-id rq-b1
has "$out" "^acct-ctl-2 +OK +vch_[0-9A-Z]+ +ACTIVE" "batch item ok"
has "$out" "^acct-nobody +NOT_FOUND +- +- " "batch item failed"
has "$out" "^2 succeeded, 1 failed" "batch totals"
has "$err" "1 of 3 items failed" "batch failure reported"
ctl 1 --json batch-issue --template "$tr" --customers acct-ctl-2,acct-ctl-3,acct-nobody --request-id rq-b1
[[ $(jcount voucherId <<<"$out") -eq 2 ]] || fail "batch retry: $out"
va=$(jget voucherId <<<"$out")
ctl 0 batch-issue --template "$tr" --customers acct-ctl-1
ok "issue/batch-issue (idempotent), unknown customer, locked template"

# --- the voucher list -------------------------------------------------------------------------
ctl 0 vouchers list
[[ $(grep -c '^vch_' <<<"$out") -eq 5 ]] || fail "vouchers list: $out"
ctl 0 vouchers list --status active
[[ $(grep -c '^vch_' <<<"$out") -eq 3 ]] || fail "status filter: $out"
hasnt "$out" "PENDING_REVIEW" "status filter"
ctl 0 vouchers list --customer acct-ctl-1 --template "$tp"
has "$out" "^$v1 +acct-ctl-1 +Spring 120 +120\.00 CNY +120\.00 CNY +PENDING_REVIEW +PENDING " "row"
[[ $(grep -c '^vch_' <<<"$out") -eq 1 ]] || fail "customer+template filter: $out"
ctl 0 vouchers list --limit 2
[[ $(grep -c '^vch_' <<<"$out") -eq 2 ]] || fail "page size: $out"
has "$out" "^more: --page-token " "next page hint"
tok=$(sed -n 's/^more: --page-token \([^ ]*\).*/\1/p' <<<"$out")
ctl 0 vouchers list --limit 2 --page-token "$tok"
[[ $(grep -c '^vch_' <<<"$out") -eq 2 ]] || fail "second page: $out"
ctl 0 vouchers list --limit 2 --all
[[ $(grep -c '^vch_' <<<"$out") -eq 5 ]] || fail "--all: $out"
ctl 0 --json vouchers list --limit 2 --all
[[ $(jcount voucherId <<<"$out") -eq 5 ]] || fail "--json --all: $out"
hasnt "$out" nextPageToken "--json --all merged"
ctl 0 vouchers get "$v1"
has "$out" "^review +PENDING" "review progress"
ctl 1 --token "$other" vouchers get "$v1"
has "$err" "NOT_FOUND" "another reseller's voucher"
ctl 0 --token "$other" vouchers list
hasnt "$out" "vch_" "another reseller lists our vouchers"
ok "vouchers list (filters, pages, --all) and get, foreign tenant"

# --- cancel, approve, withdraw, summary -------------------------------------------------------
ctl 0 cancel "$v1"
has "$out" "^status +CANCELLING" "cancel waits for approval-svc"
ctl 0 quota
has "$out" "^voucher quota +1,000\.00 CNY +240\.00 CNY +0\.00 CNY +- +760\.00 CNY" "quota kept until the outcome"
decide m-cancel-1 REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE "$v1" REVIEW_OUTCOME_CANCELLED
ctl 0 vouchers get "$v1"
has "$out" "^status +CANCELLED" "cancel confirmed"
ctl 0 quota
has "$out" "^voucher quota +1,000\.00 CNY +240\.00 CNY +120\.00 CNY +- +880\.00 CNY" "returned"
decide m-approve-2 REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE "$v2" REVIEW_OUTCOME_APPROVED
ctl 1 cancel "$v2"
has "$err" "FAILED_PRECONDITION" "cancel after approval"
ctl 0 withdraw "$v2" --reason "customer left"
has "$out" "^status +WITHDRAWN" "withdrawn"
has "$out" "^withdraw reason +customer left" "reason kept"
ctl 0 withdraw "$v2"
has "$out" "^status +WITHDRAWN" "withdraw repeated"
ctl 0 --json withdraw "$va"
has "$out" '"status": "VOUCHER_STATUS_WITHDRAWN"' "withdraw JSON"
ctl 1 --token "$other" withdraw "$va"
has "$err" "NOT_FOUND" "another reseller's withdraw"
ctl 0 quota
has "$out" "^voucher quota +1,000\.00 CNY +240\.00 CNY +240\.00 CNY +- +1,000\.00 CNY" "all back"
ctl 0 summary
has "$out" "^issued +100\.00 CNY" "issued excludes cancelled/withdrawn (2 x 50 own cost)"
has "$out" "^quota remaining +1,000\.00 CNY" "remaining"
has "$out" "^WITHDRAWN +2$" "count WITHDRAWN"
has "$out" "^ACTIVE +2$" "count ACTIVE"
has "$out" "^CANCELLED +1$" "count CANCELLED"
ctl 0 entries --account quota --kind return
[[ $(grep -c 'RETURN' <<<"$out") -eq 2 ]] || fail "return entries: $out"
ok "cancel (CANCELLING then CANCELLED), withdraw, summary, ledger"

# --- customer credit, allocations, alerts (live and stored) ------------------------------------
billing=$(token --role billing --sub billing@provider)
# report ID CUSTOMER AMOUNT_MINOR - a usage record from billing (ReportUsage).
report() {
    local o
    o=$(bufcurl reseller /reseller.v1.BillingService/ReportUsage \
        -H "authorization: Bearer $billing" \
        -d "{\"usageId\":\"$1\",\"customerId\":\"$2\",\"amountMinor\":\"$3\"}") ||
        fail "ReportUsage $1: $o"
}
# watchers N - waits until reseller-svc has N open WatchCreditAlerts streams (its gauge).
watchers() {
    local v=""
    for _ in $(seq 1 100); do
        exec 3<>"/dev/tcp/127.0.0.1/${MPORT[reseller]}"
        printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
        v=$(sed -n 's/^vc_alert_watchers{[^}]*} \([0-9]*\).*/\1/p' <&3)
        exec 3<&-
        [[ $v == "$1" ]] && return 0
        sleep 0.1
    done
    fail "vc_alert_watchers is '$v', want $1"
}
# lines FILE N PATTERN - waits until FILE has N lines matching PATTERN.
lines() {
    for _ in $(seq 1 100); do
        [[ $(grep -Ec -- "$3" "$1" || true) -ge $2 ]] && return 0
        sleep 0.1
    done
    fail "$1: want $2 lines /$3/:
$(cat "$1")"
}

decide m-pool-1 REVIEW_SUBJECT_TYPE_CREDIT_APPLICATION pool-1 REVIEW_OUTCOME_APPROVED \
    ',"grantedAmountMinor":"100000","currencyCode":"CNY","directGrant":true'
ctl 0 quota
has "$out" "^credit pool +1,000\.00 CNY +- +- +0\.00 CNY +1,000\.00 CNY" "pool granted"

"$CTL" alerts watch >"$T/watch.out" 2>"$T/watch.err" &
wpid=$!
watchers 1
has "$(cat "$T/watch.err")" "watching alerts; Ctrl-C stops" "watch announces itself"

ctl 0 customers credit acct-ctl-1 --amount +100.00 --remarks "first line" --request-id rq-cred-1
has "$out" "^amount +\+100\.00 CNY" "allocation amount"
has "$out" "^credit after +100\.00 CNY \(used 0\.00 CNY, available 100\.00 CNY\)" "credit after"
has "$out" "^pool left +900\.00 CNY" "pool left"
has "$out" "^operator +op@r-ctl" "operator"
alloc=$(sed -n 's/^allocation  *//p' <<<"$out")
[[ -n $alloc ]] || fail "no allocation id: $out"
ctl 0 --json customers credit acct-ctl-1 --amount +100.00 --remarks "first line" --request-id rq-cred-1
[[ $(jget allocationId <<<"$out") == "$alloc" ]] || fail "credit retry allocated again: $out"
ctl 0 customers credit acct-ctl-2 --amount 50
has "$err" "^resellerctl: request id [0-9a-f-]{36} " "generated request id printed"
ctl 0 customers credit acct-ctl-2 --amount -20.00
has "$out" "^amount +-20\.00 CNY" "withdrawal"
has "$out" "^pool left +870\.00 CNY" "withdrawn back into the pool"
ctl 1 customers credit acct-ctl-2 --amount -100
has "$err" "^resellerctl: FAILED_PRECONDITION: " "withdrawal beyond the available credit"
ctl 1 customers credit acct-ctl-1 --amount +5000
has "$err" "^resellerctl: FAILED_PRECONDITION: " "allocation beyond the pool"
ctl 1 customers credit acct-ctl-1 --amount 0
invalid amount_minor
ctl 2 customers credit acct-ctl-1 --amount +-5
has "$err" "--amount" "bad signed amount names the flag"
ctl 2 customers credit --amount 5
ctl 1 --token "$other" customers credit acct-ctl-1 --amount 1
has "$err" "NOT_FOUND" "another reseller's customer"
ctl 0 quota
has "$out" "^credit pool +1,000\.00 CNY +- +- +130\.00 CNY +870\.00 CNY" "refusals changed nothing"
ctl 0 customers list
has "$out" "^acct-ctl-1 .* 100\.00 CNY +0\.00 CNY +100\.00 CNY " "credit columns"
has "$out" "^acct-ctl-2 .* 30\.00 CNY +0\.00 CNY +30\.00 CNY " "credit after a withdrawal"
ctl 0 allocations
[[ $(grep -c '^[0-9T:-]*Z  *alc_' <<<"$out") -eq 3 ]] || fail "allocations: $out"
has "$out" "$alloc +acct-ctl-1 +\+100\.00 CNY +100\.00 CNY +100\.00 CNY +900\.00 CNY +op@r-ctl +first line" "allocation row"
ctl 0 allocations --customer acct-ctl-2
[[ $(grep -c 'alc_' <<<"$out") -eq 2 ]] || fail "allocations --customer: $out"
ctl 0 --json allocations --operator op@r-ctl --all
[[ $(jcount allocationId <<<"$out") -eq 3 ]] || fail "allocations --operator: $out"
ctl 0 allocations --operator somebody-else
has "$out" "^\(none\)" "operator filter"
ctl 0 --token "$other" allocations
hasnt "$out" "alc_" "another reseller lists our allocations"
ok "customers credit (idempotent, refusals change nothing), allocations, credit columns"

report u-ctl-1 acct-ctl-1 8000 # 80 %: the 75 % alarm
report u-ctl-2 acct-ctl-1 2500 # 105 %: 90 % and 100 %
ctl 0 customers get acct-ctl-1
has "$out" "^used +105\.00 CNY" "usage recorded beyond the credit"
has "$out" "^available +0\.00 CNY \(exhausted\)" "exhausted"
ctl 0 customers list --exhausted
has "$out" "^acct-ctl-1 .*0\.00 CNY \(exhausted\)" "exhausted list" && hasnt "$out" "acct-ctl-2" "only exhausted"
ctl 0 alerts
[[ $(grep -c 'CUSTOMER_CREDIT_USAGE' <<<"$out") -eq 3 ]] || fail "alerts: $out"
has "$out" "CUSTOMER_CREDIT_USAGE +acct-ctl-1 +75% used +80\.00 CNY +100\.00 CNY +u-ctl-1" "75 % row"
has "$out" "CUSTOMER_CREDIT_USAGE +acct-ctl-1 +100% used +105\.00 CNY +100\.00 CNY +u-ctl-2" "100 % row"
ctl 0 alerts --kind credit_pool_low,voucher_quota_low
has "$out" "^\(none\)" "kind filter"
ctl 0 --json alerts --customer acct-ctl-1 --all
[[ $(jcount alertId <<<"$out") -eq 3 ]] || fail "alerts --json: $out"
first=$(sed -n 's/^ *"alertId": "\([0-9]*\)".*/\1/p' <<<"$out" | tail -n 1) # newest first
[[ -n $first ]] || fail "no alert id: $out"
ctl 0 --token "$other" alerts
hasnt "$out" "acct-ctl" "another reseller lists our alerts"
ctl 2 alerts --kind sideways
has "$err" "customer_credit_usage" "kind choices listed"

# The live watcher saw the three as they were raised, oldest first.
lines "$T/watch.out" 3 "CUSTOMER_CREDIT_USAGE"
has "$(sed -n 2p "$T/watch.out")" "CUSTOMER_CREDIT_USAGE +acct-ctl-1 +75% used +80\.00 CNY +100\.00 CNY +u-ctl-1" "live 75 %"
has "$(sed -n 4p "$T/watch.out")" "100% used" "live 100 % last"
has "$(head -n 1 "$T/watch.out")" "^ +ALERT +TIME +KIND" "watch header"
kill -INT "$wpid"
rc=0 && wait "$wpid" || rc=$?
[[ $rc -eq 0 ]] || fail "alerts watch exited $rc after Ctrl-C: $(cat "$T/watch.err")"
watchers 0

# Resuming after the first one replays the other two (JSON lines), then goes on live.
"$CTL" --json alerts watch --customer acct-ctl-1 --resume-after "$first" >"$T/resume.out" 2>"$T/resume.err" &
rpid=$!
lines "$T/resume.out" 2 '"thresholdPercent":(90|100)'
hasnt "$(cat "$T/resume.out")" '"thresholdPercent":75' "replay starts after the resume point"
ctl 0 customers credit acct-ctl-1 --amount +100 # 105 / 200: re-armed
report u-ctl-3 acct-ctl-1 5000                  # 155 / 200: 75 % again
lines "$T/resume.out" 3 '"alertId"'
has "$(tail -n 1 "$T/resume.out")" '"thresholdPercent":75.*"triggerId":"u-ctl-3"' "live after the replay"
kill -TERM "$rpid"
rc=0 && wait "$rpid" || rc=$?
[[ $rc -eq 0 ]] || fail "alerts watch exited $rc after SIGTERM: $(cat "$T/resume.err")"

ctl 1 alerts watch --resume-after abc
invalid resume_after_alert_id
ctl 1 alerts watch --customer acct-nobody
has "$err" "^resellerctl: NOT_FOUND: " "watch an unknown customer"
ctl 1 --token "$staff" alerts watch
has "$err" "^resellerctl: PERMISSION_DENIED: " "staff cannot watch"
ctl 2 alerts watch --kind sideways
ok "usage alarms: stored, listed, streamed live; resume replays the missed ones"

# A watch ends with the server (UNAVAILABLE) and says how to go on.
"$CTL" alerts watch >"$T/last.out" 2>"$T/last.err" &
lpid=$!
watchers 1
stop_svc reseller
rc=0 && wait "$lpid" || rc=$?
[[ $rc -eq 1 ]] || fail "alerts watch exited $rc when the server stopped: $(cat "$T/last.err")"
has "$(cat "$T/last.err")" "^resellerctl: UNAVAILABLE: " "stream ended by the shutdown"
ok "reseller-svc exits 0 with a watcher open; the watch ends UNAVAILABLE"
echo "resellerctl_test: all checks passed"
