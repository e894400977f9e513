/*
 * alerts_hub.h - WatchCreditAlerts: credit alarms streamed live to the resellers that watch them.
 *
 * Alarms are rows of credit_alerts, inserted by the transactions that raise them on any replica
 * (credit.c). Replicas share nothing but the database, so each process polls the table: a job
 * every RS_ALERTS_POLL_MS reads the alerts after its cursor (the highest alert_id it has fanned
 * out) and hands each to the streams of the alert's reseller whose filters match. Sends only
 * queue (vc_rpc_stream_send); a stream whose reader falls too far behind is ended by the RPC
 * adapter with RESOURCE_EXHAUSTED. No thread is held per watcher.
 *
 * Exactly once, in order. alert_id comes from AUTO_INCREMENT, which is assigned at INSERT and
 * not at COMMIT: two transactions may commit ids out of order, so a cursor alone would skip the
 * smaller one. The hub therefore remembers the ids it jumped over ("holes") for a grace period
 * (RS_ALERTS_HOLE_GRACE_US) and looks them up again on every poll; an alert that commits late
 * is delivered then (after larger ids). A hole that never fills is an id a transaction rolled
 * back (deadlock retry) and is forgotten after the grace period. An alert whose transaction
 * commits later than that is not streamed live (ListCreditAlerts still has it).
 *
 * Resuming. A watcher that sends resume_after_alert_id first gets the stored alerts after that
 * id (oldest first, at most RS_ALERTS_BACKLOG_MAX, else OUT_OF_RANGE: "list instead") and then
 * the live ones, with no gap and no duplicate between the two: it is registered before the
 * backlog is read, the live alerts that arrive meanwhile are held back, and the backlog keeps
 * only what the hub had already fanned out before the registration.
 *
 * When nobody watches, the job does no query; the first watcher re-reads the newest ids.
 *
 * Thread-safety: everything here may be called from any thread. Lifetime: one hub per process,
 * created by rs_alerts_hub_start() in the service's init and freed by rs_alerts_hub_stop() in
 * fini, after the RPC server is gone (so no stream and no job uses it any more).
 */
#ifndef RS_ALERTS_HUB_H
#define RS_ALERTS_HUB_H

#include "rpc/vc_rpc_server.h"
#include "rs.h"

/* How often each replica looks for new alerts. */
#define RS_ALERTS_POLL_MS 200
/* New alerts read per query (a poll reads page after page while they come back full). */
#define RS_ALERTS_PAGE 500
/* Stored alerts a resuming watcher may replay. */
#define RS_ALERTS_BACKLOG_MAX 1000
/* How long a skipped alert id is looked for again: longer than a transaction may wait for a
   lock (innodb_lock_wait_timeout, 10 s at most here), so a slow commit still shows up. */
#define RS_ALERTS_HOLE_GRACE_US (15LL * 1000000)

/* Creates the hub, registers its poll job ("alerts") and its metrics (gauge vc_alert_watchers:
   open WatchCreditAlerts streams; counter vc_alerts_streamed_total: alerts queued to them).
   0, VC_ENOMEM, or the job registration's error. Once per process. */
int rs_alerts_hub_start(rs_app *app);
/* Frees the hub (after the RPC server and the jobs stopped). NULL-safe; idempotent. */
void rs_alerts_hub_stop(rs_app *app);
/* Optional: polls now instead of at the next tick, if anyone watches and no poll is running.
   For a caller that just committed alerts (it runs one query on the calling thread). */
void rs_alerts_hub_poke(rs_app *app);
/* Open WatchCreditAlerts streams of this process (tests, metrics). */
unsigned rs_alerts_hub_watchers(const rs_app *app);

/* The WatchCreditAlerts handler, rs_watch_credit_alerts(), is declared in customers.h: the
   CustomerService table (customers.c) serves it. */

#endif
