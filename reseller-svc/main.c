/*
 * reseller-svc: voucher templates, issuance against the provider-granted quota, the voucher
 * list, customer credit, the customer wallet and billing deductions (SPEC §1–5).
 *
 * Each area lives in its own file and exports its service table (rs.h); this file holds the
 * process definition: options, the services with the roles that may call them, jobs. Methods
 * without a handler answer UNIMPLEMENTED but are served and listed by reflection.
 */
#include <stddef.h>
#include <stdlib.h>

#include "alerts_hub.h"
#include "codes.h"
#include "outbox/vc_outbox_sender.h"
#include "rs.h"
#include "wallet.h"

extern const unsigned char vc_reseller_descriptor_set[];
extern const size_t vc_reseller_descriptor_set_len;
extern const vc_migration vc_reseller_migrations[];
extern const size_t vc_reseller_migrations_count;

#define RS_OPT(n, t, field, def, help, lo, hi) {n, t, offsetof(rs_config, field), def, help, lo, hi}

static const vc_option rs_options[] = {
    RS_OPT("currency", VC_OPT_STRING, currency, "CNY",
           "settlement currency (ISO 4217) given to a reseller on first contact", 0, 0),
    RS_OPT("expiry-interval-ms", VC_OPT_INT, expiry_interval_ms, "5000",
           "how often the expiry sweep looks for due vouchers", 100, 3600000),
    RS_OPT("expiry-batch", VC_OPT_INT, expiry_batch, "100",
           "vouchers expired per sweep transaction", 1, 10000),
    RS_OPT("approval-addr", VC_OPT_STRING, approval_addr, "127.0.0.1:50052",
           "approval-svc address (review submissions and cancels)", 0, 0),
    RS_OPT("outbox-interval-ms", VC_OPT_INT, outbox_interval_ms, "200",
           "how often pending messages to approval-svc are (re)delivered", 20, 60000),
    RS_OPT("low-balance-percent", VC_OPT_INT, low_balance_percent, "10",
           "alarm when the voucher quota or credit pool left falls below this % of granted", 1,
           99),
    RS_OPT("hold-timeout-s", VC_OPT_INT, hold_timeout_s, "1800",
           "a voucher frozen for a prepaid order is released when unpaid after this long", 1,
           604800),
    RS_OPT("hold-sweep-interval-ms", VC_OPT_INT, hold_sweep_interval_ms, "2000",
           "how often vouchers of timed-out prepaid orders are released", 100, 3600000),
};

static void rs_outbox_job(void *arg);

static int reseller_init(vc_svc *svc, void **state)
{
    rs_app *app = calloc(1, sizeof(*app));
    if (!app)
        return VC_ENOMEM;
    app->svc = svc;
    app->db = vc_svc_db(svc);
    app->cfg = vc_svc_config_of(svc);
    *state = app;
    const vc_rpc_service *tables[] = {
        rs_quota_service(app),    rs_template_service(app), rs_voucher_service(app),
        rs_customer_service(app), rs_callback_service(app), rs_billing_service(app),
        rs_wallet_service(app),
    };
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int rc = vc_svc_add_service(svc, tables[i]);
        if (rc != 0)
            return rc;
    }
    vc_outbox_sender_opts so = {.db = app->db,
                                .target = app->cfg->approval_addr,
                                .auth = vc_svc_auth(svc),
                                .subject = "reseller-svc",
                                .on_reply = rs_outbox_on_reply,
                                .reply_arg = app};
    int rc = vc_outbox_sender_new(&so, &app->outbox);
    if (rc != 0)
        return rc;
    if ((rc = vc_svc_add_job(svc, "outbox", (uint64_t)app->cfg->outbox_interval_ms, rs_outbox_job,
                             app)) != 0)
        return rc;
    if ((rc = vc_svc_add_job(svc, "hold-timeout", (uint64_t)app->cfg->hold_sweep_interval_ms,
                             rs_hold_timeout_job, app)) != 0)
        return rc;
    if ((rc = rs_alerts_hub_start(app)) != 0) /* WatchCreditAlerts: polls credit_alerts */
        return rc;
    if ((rc = vc_svc_add_job(svc, "redeem-expiry", (uint64_t)app->cfg->expiry_interval_ms,
                             rs_codes_expiry_job, app)) != 0) /* paper-voucher batches */
        return rc;
    return vc_svc_add_job(svc, "expiry", (uint64_t)app->cfg->expiry_interval_ms, rs_expiry_job,
                          app);
}

/* Delivers what is due, round after round while rounds come back full (a backlog). */
static void rs_outbox_job(void *arg)
{
    vc_outbox_drain(((rs_app *)arg)->outbox, 100);
}

static void reseller_fini(void *state)
{
    rs_app *app = state;
    rs_alerts_hub_stop(app);
    vc_outbox_sender_free(app->outbox);
    free(app);
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
    .options = rs_options,
    .n_options = sizeof(rs_options) / sizeof(rs_options[0]),
    .cfg_size = sizeof(rs_config),
    .init = reseller_init,
    .fini = reseller_fini,
};

int main(int argc, char **argv)
{
    return vc_svc_main(&reseller_def, argc, argv);
}
