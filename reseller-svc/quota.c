/* quota.c - reseller.v1.QuotaService (not built yet: every method answers UNIMPLEMENTED). */
#include "reseller/v1/quota_service.pb-c.h"
#include "rs.h"

static vc_rpc_service rs_quota_table = {
    .descriptor = &reseller__v1__quota_service__descriptor,
    .roles = VC_ROLE_RESELLER | VC_ROLE_STAFF | VC_ROLE_SERVICE,
};

const vc_rpc_service *rs_quota_service(rs_app *app)
{
    rs_quota_table.data = app;
    return &rs_quota_table;
}
