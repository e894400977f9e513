/*
 * approval-svc: the provider's review queue with its business-day SLA, staff decisions, the
 * holiday calendar, and reliable callbacks to reseller-svc (SPEC §6).
 *
 * Each service of API.md is registered here with the roles that may call it; handlers live in
 * one file per area and join the tables as they are built. Methods without a handler answer
 * UNIMPLEMENTED but are served and listed by reflection.
 */
#include <stddef.h>

#include "approval/v1/calendar_service.pb-c.h"
#include "approval/v1/review_service.pb-c.h"
#include "approval/v1/staff_service.pb-c.h"
#include "svc/vc_svc.h"

extern const unsigned char vc_approval_descriptor_set[];
extern const size_t vc_approval_descriptor_set_len;
extern const vc_migration vc_approval_migrations[];
extern const size_t vc_approval_migrations_count;

static const vc_rpc_service approval_services[] = {
    {.descriptor = &approval__v1__review_service__descriptor, .roles = VC_ROLE_SERVICE},
    {.descriptor = &approval__v1__staff_service__descriptor, .roles = VC_ROLE_STAFF},
    {.descriptor = &approval__v1__calendar_service__descriptor, .roles = VC_ROLE_STAFF},
};

static int approval_init(vc_svc *svc, void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(approval_services) / sizeof(approval_services[0]); i++) {
        int rc = vc_svc_add_service(svc, &approval_services[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const vc_svc_def approval_def = {
    .name = "approval-svc",
    .summary = "review queue, staff decisions, business-day calendar, callbacks (gRPC)",
    .default_listen = "127.0.0.1:50052",
    .default_metrics_listen = "127.0.0.1:9452",
    .default_db_name = "approval",
    .descriptor_set = vc_approval_descriptor_set,
    .descriptor_set_len = &vc_approval_descriptor_set_len,
    .migrations = vc_approval_migrations,
    .n_migrations = &vc_approval_migrations_count,
    .init = approval_init,
};

int main(int argc, char **argv)
{
    return vc_svc_main(&approval_def, argc, argv);
}
