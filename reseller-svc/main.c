/*
 * reseller-svc: voucher templates, issuance against the provider-granted quota, the voucher
 * list, customer credit, the customer wallet and billing deductions (SPEC §1–5).
 *
 * Each service of API.md is registered here with the roles that may call it; the handlers of a
 * service area live in their own file and are added to its table as they are built. Methods
 * without a handler answer UNIMPLEMENTED but are served and listed by reflection.
 */
#include <stddef.h>

#include "reseller/v1/billing_service.pb-c.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/quota_service.pb-c.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "reseller/v1/wallet_service.pb-c.h"
#include "svc/vc_svc.h"

extern const unsigned char vc_reseller_descriptor_set[];
extern const size_t vc_reseller_descriptor_set_len;
extern const vc_migration vc_reseller_migrations[];
extern const size_t vc_reseller_migrations_count;

static const vc_rpc_service reseller_services[] = {
    {.descriptor = &reseller__v1__quota_service__descriptor,
     .roles = VC_ROLE_RESELLER | VC_ROLE_STAFF | VC_ROLE_SERVICE},
    {.descriptor = &reseller__v1__template_service__descriptor, .roles = VC_ROLE_RESELLER},
    {.descriptor = &reseller__v1__voucher_service__descriptor, .roles = VC_ROLE_RESELLER},
    {.descriptor = &reseller__v1__customer_service__descriptor, .roles = VC_ROLE_RESELLER},
    {.descriptor = &reseller__v1__wallet_service__descriptor, .roles = VC_ROLE_CUSTOMER},
    {.descriptor = &reseller__v1__billing_service__descriptor, .roles = VC_ROLE_BILLING},
    {.descriptor = &reseller__v1__review_callback_service__descriptor, .roles = VC_ROLE_SERVICE},
};

static int reseller_init(vc_svc *svc, void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(reseller_services) / sizeof(reseller_services[0]); i++) {
        int rc = vc_svc_add_service(svc, &reseller_services[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const vc_svc_def reseller_def = {
    .name = "reseller-svc",
    .summary = "voucher quota, templates, issuance, customer credit, wallet and billing (gRPC)",
    .default_listen = "127.0.0.1:50051",
    .default_metrics_listen = "127.0.0.1:9451",
    .default_db_name = "reseller",
    .descriptor_set = vc_reseller_descriptor_set,
    .descriptor_set_len = &vc_reseller_descriptor_set_len,
    .migrations = vc_reseller_migrations,
    .n_migrations = &vc_reseller_migrations_count,
    .init = reseller_init,
};

int main(int argc, char **argv)
{
    return vc_svc_main(&reseller_def, argc, argv);
}
