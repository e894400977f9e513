#!/usr/bin/env bash
# approvalctl end to end against real approval-svc and reseller-svc on a private MariaDB, wired to
# each other: the business calendar (holidays, make-up days, due times), a direct grant reaching
# reseller-svc's quota, the review queue (filters, paging, --mine, time left), claims, approvals
# (partial grants), rejections (reason required locally: exit 2, nothing sent), a ticket cancelled
# by the reseller, statistics, every outcome applied in reseller-svc (read with resellerctl),
# --json, and the error paths (exit 1 with the gRPC code, exit 2 for usage).
# The subjects are real reseller-svc objects (applications, vouchers) made with resellerctl;
# their tickets are submitted the way reseller-svc does it, ReviewService/SubmitReview with a
# service token through buf curl (idempotent on the subject, so a submission reseller-svc's own
# outbox already made simply returns the same ticket).
. "$(dirname "$0")/lib.sh"

CTL=$BUILD/tools/approvalctl
RCTL=$BUILD/tools/resellerctl
[[ -x $CTL && -x $RCTL ]] || fail "approvalctl/resellerctl not built"

# ctl WANT_RC ARGS... - runs approvalctl; stdout in $out, stderr in $err; fails on another status.
ctl() {
    local want=$1 rc=0
    shift
    "$CTL" "$@" >"$T/out" 2>"$T/err" || rc=$?
    out=$(cat "$T/out")
    err=$(cat "$T/err")
    [[ $rc -eq $want ]] || fail "approvalctl $* exited $rc, want $want
stdout: $out
stderr: $err"
}
# rctl ARGS... - resellerctl as the reseller; must succeed; stdout in $out.
rctl() { out=$("$RCTL" "$@" 2>"$T/rerr") || fail "resellerctl $* failed: $(cat "$T/rerr")"; }
has() { grep -Eq -- "$2" <<<"$1" || fail "$3: no /$2/ in:
$1"; }
hasnt() { ! grep -Eq -- "$2" <<<"$1" || fail "$3: unexpected /$2/ in:
$1"; }
jget() { sed -n "s/^ *\"$1\": \"\([^\"]*\)\",\{0,1\}\$/\1/p" | head -n 1; }
jcount() { grep -c "^ *\"$1\": " || true; }
invalid() { # invalid FIELD
    has "$err" "^approvalctl: INVALID_ARGUMENT: " "status line"
    has "$err" "fields: ([^)]*,)?$1[,)]" "field $1"
}
# eventually WHAT PATTERN TOOL ARGS... - reruns the tool until its stdout matches (10 s).
eventually() {
    local what=$1 pat=$2 o=""
    shift 2
    for _ in $(seq 1 100); do
        o=$("$@" 2>/dev/null || true)
        grep -Eq -- "$pat" <<<"$o" && return 0
        sleep 0.1
    done
    fail "$what: no /$pat/ after 10 s in:
$o"
}
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
            echo "$p"
            return
        }
    done
    fail "no free port"
}
# submit SUBJECT_TYPE SUBJECT_ID AMOUNT_MINOR [CUSTOMER] - the ticket id, as reseller-svc submits.
submit() {
    local o body="{\"subjectType\":\"SUBJECT_TYPE_$1\",\"subjectId\":\"$2\",\"resellerId\":\"r-act\",\
\"customerId\":\"${4:-}\",\"amountMinor\":\"$3\",\"currencyCode\":\"CNY\",\"description\":\"test $2\"}"
    o=$(bufcurl approval /approval.v1.ReviewService/SubmitReview \
        -H "authorization: Bearer $service" -d "$body") || fail "SubmitReview $2: $o"
    jget ticketId <<<"$o"
}

start_db
ap=$(free_port)
start_svc reseller --approval-addr "127.0.0.1:$ap" --outbox-interval-ms 100
start_svc approval --listen "127.0.0.1:$ap" --reseller-addr "127.0.0.1:${PORT[reseller]}" \
    --outbox-interval-ms 100
[[ ${PORT[approval]} == "$ap" ]] || fail "approval-svc is on ${PORT[approval]}, not $ap"
export APPROVAL_ADDR=127.0.0.1:$ap RESELLER_ADDR=127.0.0.1:${PORT[reseller]}
TOKEN_STAFF=$(token --role staff --sub reviewer@provider)
TOKEN_RESELLER=$(token --role reseller --sub op@r-act --reseller r-act)
export TOKEN_STAFF TOKEN_RESELLER
other=$(token --role staff --sub other@provider)
service=$(token --role service --sub reseller-svc)

# --- usage ------------------------------------------------------------------------------------
ctl 0 --help
help=$out
for c in queue show claim approve reject stats "holidays list" "holidays add" "holidays rm" due \
    grant; do
    has "$help" "^  $c " "--help lists $c"
    # shellcheck disable=SC2086 # "holidays list" is two words on purpose
    ctl 0 $c --help
    has "$out" "^usage: approvalctl $c" "$c --help"
done
ctl 2 bogus
has "$err" 'unknown command "bogus"' "unknown command"
ctl 2 holidays
ctl 2 show
ctl 2 queue --state sideways
has "$err" "pending, approved, rejected, cancelled" "state choices listed"
ctl 2 queue --subject gift
ctl 2 claim tkt_x --for 5x
has "$err" "--for" "bad duration names the flag"
ctl 2 reject tkt_x
has "$err" "reason" "reject without a reason"
ctl 2 reject tkt_x --reason " "
ctl 2 grant --reseller r-act --kind quota --amount 1.234 --reason x --currency CNY
has "$err" "--amount" "bad amount names the flag"
ctl 2 grant --reseller r-act --kind gift --amount 1 --reason x --currency CNY
ctl 2 due --at tomorrow
has "$err" "RFC 3339" "bad time"
ctl 2 --token "" queue --mine
has "$err" "--mine needs a token" "--mine without a token"
ok "usage errors exit 2 and say why"

ctl 1 --token garbage stats
has "$err" "^approvalctl: UNAUTHENTICATED: " "bad token"
ctl 1 --token "$TOKEN_RESELLER" queue
has "$err" "^approvalctl: PERMISSION_DENIED: " "a reseller on StaffService"
ctl 1 --token "$TOKEN_RESELLER" holidays list
has "$err" "^approvalctl: PERMISSION_DENIED: " "a reseller on CalendarService"
ctl 1 --addr 127.0.0.1:1 --timeout-ms 2000 stats
has "$err" "^approvalctl: UNAVAILABLE: " "no server"
has "$err" "is approval-svc running at 127.0.0.1:1" "hint"
ctl 1 show tkt_nope
has "$err" "^approvalctl: NOT_FOUND: " "unknown ticket"
ok "call errors exit 1 with the gRPC code"

# --- the business calendar --------------------------------------------------------------------
# Friday 2024-09-27 10:00 in Shanghai, 3 business days: Wednesday 2024-10-02 10:00 on a plain
# calendar; with National Day (Oct 1-4 and 7 off) and the make-up Sunday Sep 29, Tuesday Oct 8.
at=2024-09-27T10:00:00+08:00
ctl 0 due --at $at --days 3
has "$out" "^due +2024-10-02T02:00:00Z \(2024-10-02 10:00 Wed Asia/Shanghai\)" "plain calendar"
has "$out" "^business days +3$" "days"
for d in 01 02 03 04 07; do ctl 0 holidays add 2024-10-$d --description "National Day"; done
has "$out" "^kind +HOLIDAY" "holiday added"
has "$out" "^date +2024-10-07 \(Mon\)" "weekday shown"
has "$out" "^added by +reviewer@provider" "who added it"
ctl 0 holidays add 2024-09-29 --workday --description "Make-up day for National Day"
has "$out" "^kind +WORKDAY" "make-up day added"
ctl 0 holidays add 2024-09-29 --workday --description "Make-up day for National Day"
ok "holidays add (a repeat returns the entry)"
ctl 1 holidays add 2024-10-09 --workday --description "a Wednesday"
has "$err" "^approvalctl: INVALID_ARGUMENT: " "a make-up day must be a weekend day"
ctl 1 holidays add 2024-10-10 --description ""
invalid description
ctl 1 holidays add 2024-13-01 --description x
has "$err" "^approvalctl: INVALID_ARGUMENT: " "bad date"
ctl 0 holidays list --from 2024-09-01 --to 2024-10-31
[[ $(grep -c '^2024-' <<<"$out") -eq 6 ]] || fail "holidays list: $out"
has "$out" "^2024-09-29 +Sun +WORKDAY +Make-up day for National Day +reviewer@provider " "row"
has "$out" "^2024-10-01 +Tue +HOLIDAY +National Day " "holiday row"
ctl 0 holidays list --kind workday
[[ $(grep -c '^2024-' <<<"$out") -eq 1 ]] || fail "kind filter: $out"
ctl 0 holidays list --from 2024-10-02 --to 2024-10-03
[[ $(grep -c '^2024-' <<<"$out") -eq 2 ]] || fail "date range: $out"
ctl 0 --json holidays list --limit 2 --all
[[ $(jcount date <<<"$out") -eq 6 ]] || fail "--json --all: $out"
ctl 0 due --at $at --days 3
has "$out" "^due +2024-10-08T02:00:00Z \(2024-10-08 10:00 Tue Asia/Shanghai\)" "with holidays"
ctl 0 --json due --at $at --days 3
[[ $(jget dueTime <<<"$out") == 2024-10-08T02:00:00Z ]] || fail "due JSON: $out"
ctl 0 holidays rm 2024-10-04
has "$out" "^date +2024-10-04 \(Fri\)" "removed entry shown"
ctl 1 holidays rm 2024-10-04
has "$err" "NOT_FOUND" "removing twice"
ctl 0 due --at $at --days 3
has "$out" "^due +2024-10-04T02:00:00Z" "Oct 4 works again"
ctl 0 due --days 1
has "$out" "^business days +1$" "due from now"
ctl 1 due --days 9
invalid business_days
ok "holidays list/add/rm and due times follow the calendar"

# --- a direct grant reaches reseller-svc ------------------------------------------------------
ctl 1 grant --reseller r-act --kind quota --amount 0 --reason x --request-id g0
invalid amount_minor
ctl 1 grant --reseller r-act --kind quota --amount 1 --reason "" --request-id g0
invalid reason
ctl 0 grant --reseller r-act --kind quota --amount 1000.00 --reason welcome --request-id g1
has "$err" "assuming CNY" "currency assumed for a reseller without tickets"
has "$out" "^state +APPROVED \(direct grant\)" "grant ticket"
has "$out" "^granted +1,000\.00 CNY" "granted amount"
has "$out" "^decided by +reviewer@provider" "decider recorded"
g1=$(sed -n 's/^ticket  *//p' <<<"$out")
ctl 0 --json grant --reseller r-act --kind quota --amount 1000.00 --reason welcome --request-id g1
[[ $(jget ticketId <<<"$out") == "$g1" ]] || fail "grant retry granted again: $out"
has "$out" '"directGrant": true' "direct grant JSON"
eventually "quota granted in reseller-svc" "^voucher quota +1,000\.00 CNY" "$RCTL" quota
eventually "grant delivered" "^delivery +DELIVERED" "$CTL" show "$g1"
ok "grant (idempotent on --request-id) reaches the reseller's quota"

# --- subjects in reseller-svc, tickets in approval-svc ----------------------------------------
rctl apply --kind quota --amount 500.00 --reason "spring campaign" --request-id a1
app1=$(sed -n 's/^application  *//p' <<<"$out")
rctl apply --kind pool --amount 200.00 --reason "credit for customers" --request-id a2
app2=$(sed -n 's/^application  *//p' <<<"$out")
rctl --json templates create --name "Spring 100" --face 100.00 --funding provider --all \
    --modes prepaid,postpaid --days 30 --request-id tpl1
tpl=$(jget templateId <<<"$out")
rctl customers create --id acct-act-1 --name "客户 1"
for i in 1 2 3; do
    rctl issue --template "$tpl" --customer acct-act-1 --request-id iss$i
    v[i]=$(sed -n 's/^voucher  *//p' <<<"$out")
done
t1=$(submit QUOTA_APPLICATION "$app1" 50000)
t2=$(submit CREDIT_APPLICATION "$app2" 20000)
t3=$(submit VOUCHER_ISSUANCE "${v[1]}" 10000 acct-act-1)
t4=$(submit VOUCHER_ISSUANCE "${v[2]}" 10000 acct-act-1)
t5=$(submit VOUCHER_ISSUANCE "${v[3]}" 10000 acct-act-1)
[[ -n $t1 && -n $t2 && -n $t3 && -n $t4 && -n $t5 ]] || fail "tickets: $t1 $t2 $t3 $t4 $t5"
[[ $(submit QUOTA_APPLICATION "$app1" 50000) == "$t1" ]] || fail "SubmitReview not idempotent"

# --- the queue --------------------------------------------------------------------------------
ctl 0 queue
[[ $(grep -c "^$t1 \|^$t2 \|^$t3 \|^$t4 \|^$t5 " <<<"$out") -eq 5 ]] || fail "queue: $out"
hasnt "$out" "^$g1 " "the queue shows pending tickets only"
has "$out" "^TICKET +SUBJECT +RESELLER +AMOUNT +STATE +SUBMITTED +DUE +TIME LEFT +CLAIMED BY$" \
    "header"
has "$out" "^$t1 +QUOTA_APPLICATION +r-act +500\.00 CNY +PENDING +[0-9TZ:-]+ +[0-9TZ:-]+ +([0-9]+d [0-9]+h|[0-9]+h [0-9]+m|[0-9]+m) +-$" \
    "queue row with time left"
ctl 0 queue --subject voucher
[[ $(grep -c "^$t3 \|^$t4 \|^$t5 " <<<"$out") -eq 3 ]] || fail "subject filter: $out"
hasnt "$out" "APPLICATION" "subject filter"
ctl 0 queue --subject quota,credit
[[ $(grep -c "^$t1 \|^$t2 " <<<"$out") -eq 2 ]] || fail "subject list: $out"
ctl 0 queue --reseller r-other
has "$out" "^\(none\)$" "another reseller's queue is empty"
ctl 0 queue --overdue
hasnt "$out" "^$t1 " "fresh tickets are not overdue"
ctl 0 queue --state approved
has "$out" "^$g1 +QUOTA_APPLICATION +r-act +1,000\.00 CNY +APPROVED .* +- +-$" "final ticket row"
ctl 0 queue --limit 2
[[ $(grep -c ' PENDING ' <<<"$out") -eq 2 ]] || fail "page: $out"
has "$out" "^more: --page-token " "next page hint"
ctl 0 queue --limit 2 --all
[[ $(grep -c ' PENDING ' <<<"$out") -eq 5 ]] || fail "--all: $out"
ctl 0 --json queue --state all --limit 2 --all
[[ $(jcount ticketId <<<"$out") -eq 6 ]] || fail "--json --all: $out"
hasnt "$out" nextPageToken "--json --all merged"
ctl 0 show "$t3"
has "$out" "^subject +VOUCHER_ISSUANCE ${v[1]}$" "subject"
has "$out" "^customer +acct-act-1$" "customer"
has "$out" "^amount +100\.00 CNY$" "amount"
has "$out" "^state +PENDING$" "state"
has "$out" "^due +[0-9TZ:-]+ \([1-3] business days\)$" "due"
ok "queue (filters, pages, --json) and show"

# --- claims, decisions, outcomes in reseller-svc ----------------------------------------------
ctl 0 claim "$t1" --for 10m
has "$out" "^claimed by +reviewer@provider until " "claimed"
ctl 0 queue --mine
has "$out" "^$t1 .* reviewer@provider$" "--mine lists my claim"
[[ $(grep -c ' PENDING ' <<<"$out") -eq 1 ]] || fail "--mine: $out"
ctl 1 --token "$other" claim "$t1"
has "$err" "^approvalctl: FAILED_PRECONDITION: .*reviewer@provider" "claimed by someone else"
ctl 1 --token "$other" approve "$t1"
has "$err" "FAILED_PRECONDITION" "approving another's claim"
ctl 0 --token "$other" queue --mine
has "$out" "^\(none\)$" "other has no claims"

ctl 1 approve "$t1" --amount 600.00
invalid granted_amount_minor
ctl 0 approve "$t1" --amount 300.00 --comment "partial for now"
has "$out" "^state +APPROVED$" "approved"
has "$out" "^granted +300\.00 CNY$" "partial grant"
has "$out" "^reason +partial for now$" "comment"
has "$out" "^decided by +reviewer@provider$" "decider"
ctl 1 approve "$t1"
has "$err" "^approvalctl: FAILED_PRECONDITION: " "deciding twice"
eventually "application approved in reseller-svc" "^$app1 +VOUCHER_QUOTA +500\.00 CNY +300\.00 CNY +APPROVED " \
    "$RCTL" applications
eventually "quota after the partial grant" "^voucher quota +1,300\.00 CNY" "$RCTL" quota

ctl 1 approve "$t3" --amount 1.00
invalid granted_amount_minor
ctl 0 --json approve "$t3"
has "$out" '"state": "TICKET_STATE_APPROVED"' "approve JSON"
eventually "voucher active" "^status +ACTIVE" "$RCTL" vouchers get "${v[1]}"

ctl 2 reject "$t4"
ctl 0 queue --subject voucher
has "$out" "^$t4 .* PENDING " "a refused reject sent nothing"
ctl 1 reject "$t4" --reason "$(head -c 1200 /dev/zero | tr '\0' x)"
invalid reason
ctl 0 reject "$t4" --reason "over budget"
has "$out" "^state +REJECTED$" "rejected"
has "$out" "^reason +over budget$" "reason kept"
eventually "voucher rejected" "^status +REJECTED" "$RCTL" vouchers get "${v[2]}"
ctl 0 reject "$t2" --reason "not this quarter"
eventually "application rejected" "^$app2 +CREDIT_POOL .* REJECTED " "$RCTL" applications

rctl cancel "${v[3]}"
eventually "ticket cancelled by the reseller" "^state +CANCELLED" "$CTL" show "$t5"
ctl 1 approve "$t5"
has "$err" "FAILED_PRECONDITION" "a cancelled ticket cannot be decided"
ctl 0 queue --state cancelled
has "$out" "^$t5 +VOUCHER_ISSUANCE .* CANCELLED " "cancelled listed"
eventually "voucher cancelled" "^status +CANCELLED" "$RCTL" vouchers get "${v[3]}"
ok "claim (exclusive), approve (partial), reject (reason), cancel race, outcomes applied"

# --- statistics -------------------------------------------------------------------------------
eventually "every outcome delivered" "^undelivered +0$" "$CTL" stats
ctl 0 stats
has "$out" "^pending +0$" "nothing pending"
has "$out" "^oldest pending +-$" "no oldest"
has "$out" "^VOUCHER_ISSUANCE +0$|^\(none\)$" "pending by subject"
[[ $(grep -Ec '^20[0-9]{2}-[0-9]{2}-[0-9]{2} ' <<<"$out") -eq 7 ]] || fail "7 days: $out"
has "$(grep -E '^20[0-9]{2}-' <<<"$out" | tail -n 1)" " [23] +2 +1$" "today's decisions"
ctl 0 stats --days 2 --reseller r-act
[[ $(grep -Ec '^20[0-9]{2}-[0-9]{2}-[0-9]{2} ' <<<"$out") -eq 2 ]] || fail "--days 2: $out"
ctl 0 --json stats
hasnt "$out" '"pendingCount"' "zero omitted in JSON"
has "$out" '"decisionsPerDay"' "decisions JSON"
ctl 1 stats --days 91
invalid days
ok "stats: pending, oldest, decisions per day, undelivered"

stop_svc approval
stop_svc reseller
ok "both services exit 0"
echo "approvalctl_test: all checks passed"
