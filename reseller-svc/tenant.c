/* tenant.c - tenant resolution and shared input validation for reseller-svc. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rpc/vc_validate.h"
#include "rs.h"

int rs_tenant(vc_rpc_ctx *ctx, const char *requested, const char *field, char out[64])
{
    const vc_caller *who = vc_rpc_caller(ctx);
    bool named = requested && *requested;
    if (who->role == VC_ROLE_RESELLER || who->role == VC_ROLE_CUSTOMER) {
        /* Never another tenant's data: naming one is refused, not silently ignored. */
        if (named && strcmp(requested, who->reseller_id) != 0)
            return vc_rpc_error(ctx, VC_GRPC_PERMISSION_DENIED,
                                "a reseller token acts for its own reseller only");
        memcpy(out, who->reseller_id, strlen(who->reseller_id) + 1);
        return VC_GRPC_OK;
    }
    if (!named)
        return vc_rpc_invalid(ctx, field, "required for %s callers", vc_role_name(who->role));
    int rc = rs_check_id(ctx, field, requested, true);
    if (rc != VC_GRPC_OK)
        return rc;
    memcpy(out, requested, strlen(requested) + 1);
    return VC_GRPC_OK;
}

int rs_reseller_ensure(vc_db_conn *c, const rs_app *app, const char *reseller_id, char cur[4])
{
    int rc = vc_db_exec(c,
                        "INSERT IGNORE INTO resellers (reseller_id, currency_code, created_us) "
                        "VALUES (?, ?, ?)",
                        VC_DB_ARGS(vc_db_str(reseller_id), vc_db_str(app->cfg->currency),
                                   vc_db_i64(vc_now_us())),
                        NULL);
    if (rc < 0)
        return rc;
    vc_db_rows *rows;
    rc = vc_db_query(c, "SELECT currency_code FROM resellers WHERE reseller_id = ?",
                     VC_DB_ARGS(vc_db_str(reseller_id)), &rows);
    if (rc < 0)
        return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = vc_db_copy_str(rows, 0, cur, 4);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

int rs_check_id(vc_rpc_ctx *ctx, const char *field, const char *value, bool required)
{
    return vc_validate_token(ctx, field, value, 64, required);
}

int rs_check_request_id(vc_rpc_ctx *ctx, const char *value)
{
    return vc_validate_token(ctx, "request_id", value, 64, true); /* the API contract: 1-64 */
}

int rs_check_text(vc_rpc_ctx *ctx, const char *field, const char *value, size_t max, bool required)
{
    return vc_validate_text(ctx, field, value, (long)max, required, true);
}

int rs_check_time_range(vc_rpc_ctx *ctx, const char *field, const Reseller__V1__TimeRange *tr,
                        int64_t *start, int64_t *end)
{
    *start = INT64_MIN;
    *end = INT64_MAX;
    if (!tr)
        return VC_GRPC_OK;
    char f[96];
    int code = VC_GRPC_OK;
    snprintf(f, sizeof(f), "%s.start_time", field);
    if (tr->start_time && !vc_ts_to_us(tr->start_time, start))
        code = vc_rpc_invalid(ctx, f, "is not a valid time");
    snprintf(f, sizeof(f), "%s.end_time", field);
    if (tr->end_time && !vc_ts_to_us(tr->end_time, end))
        code = vc_rpc_invalid(ctx, f, "is not a valid time");
    if (code == VC_GRPC_OK && *end < *start)
        code = vc_rpc_invalid(ctx, f, "must not be before start_time");
    return code;
}
