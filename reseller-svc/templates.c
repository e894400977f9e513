/* templates.c - reseller.v1.TemplateService (not built yet: every method answers UNIMPLEMENTED). */
#include "reseller/v1/template_service.pb-c.h"
#include "rs.h"

static vc_rpc_service rs_template_table = {
    .descriptor = &reseller__v1__template_service__descriptor,
    .roles = VC_ROLE_RESELLER,
};

const vc_rpc_service *rs_template_service(rs_app *app)
{
    rs_template_table.data = app;
    return &rs_template_table;
}
