/* vouchers.c - reseller.v1.VoucherService (not built yet: every method answers UNIMPLEMENTED). */
#include "reseller/v1/voucher_service.pb-c.h"
#include "rs.h"

static vc_rpc_service rs_voucher_table = {
    .descriptor = &reseller__v1__voucher_service__descriptor,
    .roles = VC_ROLE_RESELLER,
};

const vc_rpc_service *rs_voucher_service(rs_app *app)
{
    rs_voucher_table.data = app;
    return &rs_voucher_table;
}
