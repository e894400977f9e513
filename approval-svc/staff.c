/* staff.c - approval.v1.StaffService (being written). */
#include "approval/v1/staff_service.pb-c.h"
#include "as.h"

static vc_rpc_service as_staff_table = {
    .descriptor = &approval__v1__staff_service__descriptor,
    .roles = VC_ROLE_STAFF,
};

const vc_rpc_service *as_staff_service(as_app *app)
{
    as_staff_table.data = app;
    return &as_staff_table;
}
