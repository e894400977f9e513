/* customers.c - reseller.v1.CustomerService (not built yet: every method answers UNIMPLEMENTED). */
#include "reseller/v1/customer_service.pb-c.h"
#include "rs.h"

static vc_rpc_service rs_customer_table = {
    .descriptor = &reseller__v1__customer_service__descriptor,
    .roles = VC_ROLE_RESELLER,
};

const vc_rpc_service *rs_customer_service(rs_app *app)
{
    rs_customer_table.data = app;
    return &rs_customer_table;
}
