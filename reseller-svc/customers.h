/*
 * customers.h - what other reseller-svc areas need from the customer list (customers.c).
 *
 * A customer is keyed by its cloud account id, which belongs to exactly one reseller: the
 * customers table has customer_id as its primary key, so an account registered by one reseller
 * can never be registered by another. Issuance, credit and the wallet use the check below to
 * make sure an id names one of the caller's own customers before touching anything.
 */
#ifndef RS_CUSTOMERS_H
#define RS_CUSTOMERS_H

#include "db/vc_db.h"
#include "rpc/vc_rpc_server.h"

/* 0 when customer_id is a customer of reseller_id; VC_ENOENT when it is unknown or belongs to
   another reseller (callers answer NOT_FOUND either way, so other tenants stay invisible);
   other VC_E* from the database. Call it inside the caller's transaction; it locks nothing (a
   customer is never deleted, so the answer cannot go stale before commit). */
int rs_customer_exists(vc_db_conn *c, const char *reseller_id, const char *customer_id);

/* WatchCreditAlerts, the live alert stream (alerts_hub.c: a vc_rpc_stream_fn for this table). */
int rs_watch_credit_alerts(vc_rpc_ctx *ctx, const void *req);

#endif
