/* queue.c - approval.v1.ReviewService (being written). */
#include "approval/v1/review_service.pb-c.h"
#include "as.h"

static vc_rpc_service as_review_table = {
    .descriptor = &approval__v1__review_service__descriptor,
    .roles = VC_ROLE_SERVICE,
};

const vc_rpc_service *as_review_service(as_app *app)
{
    as_review_table.data = app;
    return &as_review_table;
}
