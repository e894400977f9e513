/*
 * as.h - what every approval-svc area shares: process state and configuration, the service
 * tables each area exports, and the helpers areas lend each other.
 *
 * One file per area: queue.c (ReviewService: submissions and cancels from reseller-svc),
 * staff.c (StaffService), calendar.c (CalendarService + due times), plus main.c. Handlers run
 * on RPC worker threads and may block on the database; the per-call arena owns what they
 * allocate. The process time zone (TZ) is the business calendar's (--time-zone), set once at
 * start-up before any thread exists, so localtime_r/mktime speak business-local time.
 */
#ifndef AS_H
#define AS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/vc_arena.h"
#include "base/vc_err.h"
#include "base/vc_id.h"
#include "base/vc_time.h"
#include "db/vc_db.h"
#include "rpc/vc_rpc_server.h"
#include "svc/vc_svc.h"

typedef struct as_config {
    vc_svc_config base;  /* first member: see vc_svc_def.options */
    char *time_zone;     /* IANA zone of the business calendar */
    int64_t business_days;   /* default SLA, 1..3 */
    int64_t claim_ttl_s;     /* default claim duration */
    int64_t claim_max_s;     /* longest claim a reviewer may ask for */
    char *reseller_addr;     /* where outcomes are delivered */
    int64_t outbox_interval_ms;
} as_config;

typedef struct vc_outbox_sender vc_outbox_sender;

typedef struct as_app {
    vc_svc *svc;
    vc_db_pool *db;
    const as_config *cfg;
    vc_outbox_sender *outbox; /* outcomes to reseller-svc */
} as_app;

/* Service tables (one per area). */
const vc_rpc_service *as_review_service(as_app *app);
const vc_rpc_service *as_staff_service(as_app *app);
const vc_rpc_service *as_calendar_service(as_app *app);

/* Due time of a ticket submitted at submit_us with `days` business days (calendar.c): reads the
   calendar exceptions it needs through c. 0 or a VC_E* code. */
int as_due_time(vc_db_conn *c, int64_t submit_us, int days, int64_t *due_us);

/* Pending and overdue (pending past due) tickets right now (staff.c); for metrics. */
int as_queue_counts(vc_db_conn *c, int64_t now_us, int64_t *pending, int64_t *overdue);

#endif
