/* callbacks.c - reseller.v1.ReviewCallbackService (not built yet: every method answers UNIMPLEMENTED). */
#include "reseller/v1/review_callback_service.pb-c.h"
#include "rs.h"

static vc_rpc_service rs_callback_table = {
    .descriptor = &reseller__v1__review_callback_service__descriptor,
    .roles = VC_ROLE_SERVICE,
};

const vc_rpc_service *rs_callback_service(rs_app *app)
{
    rs_callback_table.data = app;
    return &rs_callback_table;
}
