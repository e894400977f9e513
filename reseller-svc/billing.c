/*
 * billing.c - reseller.v1.BillingService: what the provider's billing engine tells reseller-svc
 * (SPEC §4, §5). Callers: the billing role only. Billing tokens name no reseller: a customer's
 * cloud account id belongs to exactly one reseller, which is the tenant of the call.
 *
 * ReportUsage consumes customer credit (model in credit.h): one transaction locks the
 * customer's credit row, adds the charge to used and raises the 75/90/100 % alarms it crosses.
 * Usage beyond the credit is recorded as well: credit control is advisory, nothing is suspended.
 * Idempotent on usage_id (request_log, tenant = the customer's reseller).
 *
 * SettleCharge has no handler here yet (UNIMPLEMENTED until the settlement area lands).
 */
#include <string.h>

#include "base/vc_money.h"
#include "credit.h"
#include "db/vc_idem.h"
#include "reseller/v1/billing_service.pb-c.h"
#include "rs.h"
#include "settlement.h"

#define RS_PRODUCT_CODE_MAX 64

/* ---- ReportUsage --------------------------------------------------------------------------- */

struct rs__usage {
    vc_arena *arena;
    const Reseller__V1__ReportUsageRequest *req;
    Reseller__V1__ReportUsageResponse *resp;
    rs_credit_refusal no;
};

/* The reseller of a customer and its currency; VC_ENOENT for an unknown customer. */
static int rs__customer_owner(vc_db_conn *c, const char *customer_id, char reseller[64],
                              char currency[4])
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT c.reseller_id, r.currency_code FROM customers c "
                         "JOIN resellers r ON r.reseller_id = c.reseller_id "
                         "WHERE c.customer_id = ?",
                         VC_DB_ARGS(vc_db_str(customer_id)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        rc = vc_db_copy_str(rows, 0, reseller, 64);
        if (rc == 0) rc = vc_db_copy_str(rows, 1, currency, 4);
    } else if (rc == 0) {
        rc = VC_ENOENT;
    }
    vc_db_rows_close(rows);
    return rc;
}

static int rs__usage_tx(vc_db_conn *c, void *arg)
{
    struct rs__usage *t = arg;
    const Reseller__V1__ReportUsageRequest *req = t->req;
    t->resp = NULL;
    t->no.code = VC_GRPC_OK;
    char reseller[64], currency[4];
    int rc = rs__customer_owner(c, req->customer_id, reseller, currency);
    if (rc == VC_ENOENT)
        return rs_credit_refuse(&t->no, VC_GRPC_NOT_FOUND, NULL, "customer %s not found",
                                req->customer_id);
    if (rc < 0) return rc;
    if (*req->currency_code && strcmp(req->currency_code, currency) != 0)
        return rs_credit_refuse(&t->no, VC_GRPC_INVALID_ARGUMENT, "currency_code",
                                "must be the customer's currency %s", currency);
    /* Locked before the idempotency lookup: a concurrent twin waits here, then replays. */
    rs_credit cr;
    if ((rc = rs_credit_lock(c, reseller, req->customer_id, currency, &cr)) < 0) return rc;
    Reseller__V1__ReportUsageRequest norm = *req;
    norm.currency_code = currency;
    ProtobufCMessage *replay = NULL;
    rc = vc_idem_begin(c, reseller, "ReportUsage", req->usage_id, &norm.base, t->arena,
                       &reseller__v1__report_usage_response__descriptor, &replay);
    if (rc == VC_IDEM_REPLAY) {
        /* The first answer's credit; its alerts were raised then, not by this call. */
        t->resp = (Reseller__V1__ReportUsageResponse *)replay;
        t->resp->replayed = true;
        t->resp->n_alerts = 0;
        t->resp->alerts = NULL;
        return 0;
    }
    if (rc == VC_IDEM_MISMATCH)
        return rs_credit_refuse(&t->no, VC_GRPC_ALREADY_EXISTS, NULL,
                                "usage_id %s was already reported with other parameters",
                                req->usage_id);
    if (rc < 0) return rc;

    if (!vc_money_add(cr.used_minor, req->amount_minor, &cr.used_minor))
        return rs_credit_refuse(&t->no, VC_GRPC_OUT_OF_RANGE, NULL,
                                "the customer's used credit would overflow");
    Reseller__V1__ReportUsageResponse *resp = vc_arena_alloc(t->arena, sizeof(*resp));
    Reseller__V1__CreditAlert **raised =
        vc_arena_calloc(t->arena, RS_CREDIT_N_THRESHOLDS, sizeof(*raised));
    if (!resp || !raised) return VC_ENOMEM;
    reseller__v1__report_usage_response__init(resp);
    rc = rs_credit_store(c, t->arena, reseller, req->customer_id, &cr, req->usage_id, raised,
                         &resp->n_alerts);
    if (rc < 0) return rc;
    resp->alerts = raised;
    if (!(resp->credit = rs_credit_to_pb(t->arena, &cr))) return VC_ENOMEM;
    rc = vc_idem_finish(c, reseller, "ReportUsage", req->usage_id, &norm.base, &resp->base);
    if (rc < 0) return rc; /* VC_EEXIST: a twin committed first; the caller replays it */
    t->resp = resp;
    return 0;
}

static int rs__usage_check(vc_rpc_ctx *ctx, const Reseller__V1__ReportUsageRequest *req)
{
    int code = rs_check_id(ctx, "usage_id", req->usage_id, true);
    if (rs_check_id(ctx, "customer_id", req->customer_id, true) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (req->amount_minor <= 0 || req->amount_minor > RS_CREDIT_MAX_MINOR)
        code = vc_rpc_invalid(ctx, "amount_minor", "must be between 1 and %lld",
                              (long long)RS_CREDIT_MAX_MINOR);
    if (*req->currency_code && !vc_currency_valid(req->currency_code))
        code = vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code");
    int64_t when;
    if (req->usage_time && !vc_ts_to_us(req->usage_time, &when))
        code = vc_rpc_invalid(ctx, "usage_time", "is not a valid time");
    if (rs_check_id(ctx, "product_code", req->product_code, false) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

static int report_usage(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ReportUsageRequest *req = req_;
    Reseller__V1__ReportUsageResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    int code = rs__usage_check(ctx, req);
    if (code != VC_GRPC_OK) return code;

    struct rs__usage t = {.arena = vc_rpc_arena(ctx), .req = req};
    int rc = VC_EEXIST;
    for (int attempt = 0; attempt < 3 && rc == VC_EEXIST; attempt++)
        rc = vc_db_tx(app->db, rs__usage_tx, &t);
    if (rc == RS_CREDIT_REFUSED) return rs_credit_refusal_reply(ctx, &t.no);
    if (rc < 0) return rs_fail(ctx, rc, "report usage");
    *resp = *t.resp;
    return VC_GRPC_OK;
}

/* ---- table --------------------------------------------------------------------------------- */

static const vc_rpc_method rs_billing_methods[] = {
    {.name = "ReportUsage", .unary = report_usage},
    {.name = "SettleCharge", .unary = rs_settle_charge},
};

static vc_rpc_service rs_billing_table = {
    .descriptor = &reseller__v1__billing_service__descriptor,
    .methods = rs_billing_methods,
    .n_methods = sizeof(rs_billing_methods) / sizeof(rs_billing_methods[0]),
    .roles = VC_ROLE_BILLING,
};

const vc_rpc_service *rs_billing_service(rs_app *app)
{
    rs_billing_table.data = app;
    return &rs_billing_table;
}
