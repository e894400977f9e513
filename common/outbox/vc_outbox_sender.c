/* vc_outbox_sender.c - see vc_outbox_sender.h. */
#include "outbox/vc_outbox_sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vc_err.h"
#include "base/vc_id.h"
#include "base/vc_time.h"
#include "rpc/vc_rpc_client.h"
#include "rpc/vc_rpc_status.h"
#include "runtime/vc_log.h"

#define VC__BACKOFF_BASE_MS 200
#define VC__BACKOFF_CAP_MS 60000
#define VC__TOKEN_TTL_S 600

struct vc_outbox_sender {
    vc_outbox_sender_opts o;
    char *target, *subject;
    vc_rpc_client *cli;
};

typedef struct vc__msg {
    uint64_t id;
    char message_id[VC_UUID_LEN];
    char topic[129];
    unsigned char *payload;
    size_t len;
    int attempts;
} vc__msg;

typedef struct vc__claim {
    const vc_outbox_sender *s;
    const char *only;   /* one message id, or NULL for the due ones */
    vc__msg *msgs;
    int n, cap;
} vc__claim;

int vc_outbox_sender_new(const vc_outbox_sender_opts *opts, vc_outbox_sender **out)
{
    vc_outbox_sender *s = calloc(1, sizeof(*s));
    if (!s)
        return VC_ENOMEM;
    s->o = *opts;
    s->target = strdup(opts->target);
    s->subject = strdup(opts->subject ? opts->subject : "service");
    if (!s->target || !s->subject || vc_rpc_client_new(s->target, &s->cli) != 0) {
        vc_outbox_sender_free(s);
        return VC_ENOMEM;
    }
    if (!s->o.batch)
        s->o.batch = 32;
    if (!s->o.call_timeout_ms)
        s->o.call_timeout_ms = 3000;
    if (!s->o.lease_ms)
        s->o.lease_ms = 30000;
    *out = s;
    return 0;
}

void vc_outbox_sender_free(vc_outbox_sender *s)
{
    if (!s)
        return;
    vc_rpc_client_free(s->cli);
    free(s->target);
    free(s->subject);
    free(s);
}

static void vc__free_msgs(vc__claim *k)
{
    for (int i = 0; i < k->n; i++)
        free(k->msgs[i].payload);
    free(k->msgs);
    k->msgs = NULL;
    k->n = k->cap = 0;
}

static int vc__claim_tx(vc_db_conn *c, void *arg)
{
    vc__claim *k = arg;
    vc__free_msgs(k); /* a retried transaction starts over */
    char sql[512];
    vc_db_rows *rows;
    int rc;
    if (k->only) {
        rc = vc_db_query(c,
                         "SELECT id, message_id, topic, payload, attempts FROM outbox WHERE "
                         "message_id = ? AND delivered_at IS NULL FOR UPDATE SKIP LOCKED",
                         VC_DB_ARGS(vc_db_str(k->only)), &rows);
    } else {
        snprintf(sql, sizeof(sql),
                 "SELECT id, message_id, topic, payload, attempts FROM outbox WHERE delivered_at "
                 "IS NULL AND next_attempt_at <= NOW(6) ORDER BY next_attempt_at LIMIT %d "
                 "FOR UPDATE SKIP LOCKED",
                 k->s->o.batch);
        rc = vc_db_query(c, sql, VC_DB_NOARGS, &rows);
    }
    if (rc < 0)
        return rc;
    k->cap = k->only ? 1 : k->s->o.batch;
    k->msgs = calloc((size_t)k->cap, sizeof(*k->msgs));
    while (k->msgs && k->n < k->cap && (rc = vc_db_next(rows)) == 1) {
        vc__msg *m = &k->msgs[k->n];
        const char *p = NULL;
        size_t len = 0;
        m->id = (uint64_t)vc_db_i64_or(rows, 0, 0);
        vc_db_copy_str(rows, 1, m->message_id, sizeof(m->message_id));
        vc_db_copy_str(rows, 2, m->topic, sizeof(m->topic));
        vc_db_get_str(rows, 3, &p, &len);
        m->payload = malloc(len ? len : 1);
        if (!m->payload)
            break;
        memcpy(m->payload, p, len);
        m->len = len;
        m->attempts = (int)vc_db_i64_or(rows, 4, 0);
        k->n++;
    }
    vc_db_rows_close(rows);
    if (!k->msgs)
        return VC_ENOMEM;
    if (rc < 0)
        return rc;
    /* The lease: nobody else picks these rows until it runs out (or we record the result). */
    for (int i = 0; i < k->n; i++) {
        rc = vc_db_exec(c,
                        "UPDATE outbox SET next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND "
                        "WHERE id = ?",
                        VC_DB_ARGS(vc_db_i64((int64_t)k->s->o.lease_ms * 1000),
                                   vc_db_u64(k->msgs[i].id)),
                        NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

typedef struct vc__record {
    const vc_outbox_sender *s;
    const vc__msg *m;
    int code;
    const char *error;
    const unsigned char *reply;
    size_t reply_len;
} vc__record;

static int vc__record_tx(vc_db_conn *c, void *arg)
{
    vc__record *r = arg;
    if (r->code == VC_GRPC_OK) {
        if (r->s->o.on_reply) {
            int rc = r->s->o.on_reply(c, r->m->topic, r->m->payload, r->m->len, r->reply,
                                      r->reply_len, r->s->o.reply_arg);
            if (rc < 0)
                return rc;
        }
        return vc_db_exec(c,
                          "UPDATE outbox SET delivered_at = NOW(6), attempts = attempts + 1, "
                          "last_error = NULL WHERE id = ? AND delivered_at IS NULL",
                          VC_DB_ARGS(vc_db_u64(r->m->id)), NULL);
    }
    /* Exponential backoff with full jitter: a random wait up to base * 2^attempts, capped. */
    int64_t cap = VC__BACKOFF_BASE_MS;
    for (int i = 0; i < r->m->attempts && cap < VC__BACKOFF_CAP_MS; i++)
        cap *= 2;
    if (cap > VC__BACKOFF_CAP_MS)
        cap = VC__BACKOFF_CAP_MS;
    uint32_t rnd = 0;
    vc_random_bytes(&rnd, sizeof(rnd));
    int64_t wait_ms = 1 + (int64_t)(rnd % (uint32_t)cap);
    return vc_db_exec(c,
                      "UPDATE outbox SET attempts = attempts + 1, last_error = ?, "
                      "next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND WHERE id = ?",
                      VC_DB_ARGS(vc_db_str(r->error), vc_db_i64(wait_ms * 1000),
                                 vc_db_u64(r->m->id)),
                      NULL);
}

static int vc__send(vc_outbox_sender *s, const vc__msg *m, const char *token)
{
    vc_rpc_call_opts co = {.bearer = token,
                           .request_id = m->message_id,
                           .timeout_ms = s->o.call_timeout_ms,
                           .max_attempts = 1};
    vc_rpc_result res;
    unsigned char *reply = NULL;
    size_t reply_len = 0;
    int rc = vc_rpc_client_unary_raw(s->cli, m->topic, m->payload, m->len, &reply, &reply_len, &co,
                                     &res);
    char err[600];
    if (rc < 0) {
        res.code = VC_GRPC_INTERNAL;
        snprintf(err, sizeof(err), "local error: %s", vc_strerror(rc));
    } else {
        snprintf(err, sizeof(err), "%s: %s", vc_grpc_code_name(res.code), res.message);
    }
    vc__record r = {.s = s, .m = m, .code = res.code, .error = err, .reply = reply,
                    .reply_len = reply_len};
    rc = vc_db_tx(s->o.db, vc__record_tx, &r);
    free(reply);
    if (res.code != VC_GRPC_OK)
        vc_log_fields(m->attempts >= 3 ? VC_LOG_WARN : VC_LOG_INFO, "outbox delivery failed",
                      (vc_log_field[]){VC_LOG_S("topic", m->topic),
                                       VC_LOG_S("message_id", m->message_id),
                                       VC_LOG_I("attempts", m->attempts + 1),
                                       VC_LOG_S("error", err)},
                      4);
    if (rc < 0)
        return rc;
    return res.code == VC_GRPC_OK ? 1 : 0;
}

static int vc__round(vc_outbox_sender *s, const char *only, int *delivered)
{
    if (delivered)
        *delivered = 0;
    vc__claim k = {.s = s, .only = only};
    int rc = vc_db_tx(s->o.db, vc__claim_tx, &k);
    if (rc < 0 || k.n == 0) {
        vc__free_msgs(&k);
        return rc < 0 ? rc : 0;
    }
    vc_caller me = {.role = VC_ROLE_SERVICE};
    snprintf(me.subject, sizeof(me.subject), "%s", s->subject);
    char *token = NULL;
    rc = vc_auth_mint(s->o.auth, &me, VC__TOKEN_TTL_S, &token);
    for (int i = 0; rc == 0 && i < k.n; i++) {
        int sent = vc__send(s, &k.msgs[i], token);
        if (sent < 0)
            rc = sent;
        else if (sent && delivered)
            (*delivered)++;
    }
    free(token);
    vc__free_msgs(&k);
    return rc;
}

int vc_outbox_deliver(vc_outbox_sender *s, int *delivered)
{
    return vc__round(s, NULL, delivered);
}

int vc_outbox_deliver_one(vc_outbox_sender *s, const char *message_id, int *delivered)
{
    return vc__round(s, message_id, delivered);
}

void vc_outbox_drain(vc_outbox_sender *s, int max_rounds)
{
    for (int round = 0; round < max_rounds; round++) {
        int delivered = 0;
        if (vc_outbox_deliver(s, &delivered) != 0 || delivered < s->o.batch)
            break;
    }
}
