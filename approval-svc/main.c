/*
 * approval-svc: the provider's review queue with its business-day SLA, staff decisions, the
 * holiday calendar, and reliable callbacks to reseller-svc (SPEC §6).
 *
 * Each area lives in its own file and exports its service table (as.h); this file holds the
 * process definition: options, services, jobs.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "as.h"
#include "outbox/vc_outbox_sender.h"
#include "runtime/vc_log.h"

extern const unsigned char vc_approval_descriptor_set[];
extern const size_t vc_approval_descriptor_set_len;
extern const vc_migration vc_approval_migrations[];
extern const size_t vc_approval_migrations_count;

#define AS_OPT(n, t, field, def, help, lo, hi) {n, t, offsetof(as_config, field), def, help, lo, hi}

static const vc_option as_options[] = {
    AS_OPT("time-zone", VC_OPT_STRING, time_zone, "Asia/Shanghai",
           "IANA time zone of the business calendar (due times, decisions per day)", 0, 0),
    AS_OPT("business-days", VC_OPT_INT, business_days, "3",
           "review SLA in business days when a submission does not ask for one", 1, 3),
    AS_OPT("claim-ttl-s", VC_OPT_INT, claim_ttl_s, "1800", "default length of a ticket claim", 10,
           86400),
    AS_OPT("claim-max-s", VC_OPT_INT, claim_max_s, "28800", "longest claim a reviewer may take",
           10, 86400),
    AS_OPT("reseller-addr", VC_OPT_STRING, reseller_addr, "127.0.0.1:50051",
           "reseller-svc address outcomes are delivered to", 0, 0),
    AS_OPT("outbox-interval-ms", VC_OPT_INT, outbox_interval_ms, "500",
           "how often pending outcomes are (re)delivered", 50, 60000),
};

static void as_outbox_job(void *arg);
static double as_gauge_pending(void *arg);
static double as_gauge_overdue(void *arg);

static int approval_init(vc_svc *svc, void **state)
{
    as_app *app = calloc(1, sizeof(*app));
    if (!app)
        return VC_ENOMEM;
    app->svc = svc;
    app->db = vc_svc_db(svc);
    app->cfg = vc_svc_config_of(svc);
    *state = app;
    /* Business-local time for localtime_r/mktime; no other thread runs yet. glibc silently
       falls back to UTC for an unknown zone, so a typo is caught here instead. */
    char zone_file[512];
    const char *tzdir = getenv("TZDIR");
    snprintf(zone_file, sizeof(zone_file), "%s/%s", tzdir ? tzdir : "/usr/share/zoneinfo",
             app->cfg->time_zone);
    if (strstr(app->cfg->time_zone, "..") || access(zone_file, R_OK) != 0) {
        vc_logf(VC_LOG_ERROR, "unknown --time-zone %s (no %s)", app->cfg->time_zone, zone_file);
        return VC_EINVAL;
    }
    if (setenv("TZ", app->cfg->time_zone, 1) != 0)
        return VC_EINVAL;
    tzset();
    const vc_rpc_service *tables[] = {as_review_service(app), as_staff_service(app),
                                      as_calendar_service(app)};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int rc = vc_svc_add_service(svc, tables[i]);
        if (rc != 0)
            return rc;
    }
    vc_metrics_gauge(vc_svc_metrics(svc), "vc_approval_pending_tickets",
                     "Tickets waiting for a decision.", as_gauge_pending, app);
    vc_metrics_gauge(vc_svc_metrics(svc), "vc_approval_overdue_tickets",
                     "Pending tickets past their due time (SLA breached).", as_gauge_overdue, app);
    vc_outbox_sender_opts so = {.db = app->db,
                                .target = app->cfg->reseller_addr,
                                .auth = vc_svc_auth(svc),
                                .subject = "approval-svc"};
    int rc = vc_outbox_sender_new(&so, &app->outbox);
    if (rc != 0)
        return rc;
    return vc_svc_add_job(svc, "outbox", (uint64_t)app->cfg->outbox_interval_ms, as_outbox_job,
                          app);
}

/* Queue gauges, sampled on the metrics thread at scrape time (one short query each). */
typedef struct as_count {
    int64_t pending, overdue;
} as_count;

static int as__count(vc_db_conn *c, void *arg)
{
    as_count *k = arg;
    return as_queue_counts(c, vc_now_us(), &k->pending, &k->overdue);
}

static double as_gauge_pending(void *arg)
{
    as_count k = {0};
    return vc_db_run(((as_app *)arg)->db, as__count, &k) == 0 ? (double)k.pending : -1.0;
}

static double as_gauge_overdue(void *arg)
{
    as_count k = {0};
    return vc_db_run(((as_app *)arg)->db, as__count, &k) == 0 ? (double)k.overdue : -1.0;
}

/* Delivers decided outcomes to reseller-svc, round after round while rounds come back full. */
static void as_outbox_job(void *arg)
{
    vc_outbox_drain(((as_app *)arg)->outbox, 100);
}

static void approval_fini(void *state)
{
    as_app *app = state;
    vc_outbox_sender_free(app->outbox);
    free(app);
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
    .options = as_options,
    .n_options = sizeof(as_options) / sizeof(as_options[0]),
    .cfg_size = sizeof(as_config),
    .init = approval_init,
    .fini = approval_fini,
};

int main(int argc, char **argv)
{
    return vc_svc_main(&approval_def, argc, argv);
}
