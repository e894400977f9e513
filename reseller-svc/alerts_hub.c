/*
 * alerts_hub.c - WatchCreditAlerts: see alerts_hub.h for the model (polling, holes, resuming).
 *
 * Locks. `mu` guards the watcher list, the cursor and the holes; every send to a stream happens
 * under it, and a stream's close callback unlists the watcher under it, so no stream is used
 * after its close callback returned. `mu` is never held across a database call: a poll reads
 * the table from a snapshot of the position, then applies the rows under `mu` unless the
 * position was reset meanwhile (`gen`). `poll_mu` makes polls (job and pokes) take turns.
 * Order: poll_mu, then mu, then the adapter's per-stream lock (inside vc_rpc_stream_send).
 *
 * A watcher is referenced by its handler (until the handler returns) and by its stream (until
 * the close callback); whichever lets go last frees it. The close callback may run while the
 * handler is still reading the backlog (the client went away); the handler then sees `closed`.
 */
#include "alerts_hub.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customers.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "runtime/vc_log.h"
#include "runtime/vc_metrics.h"

#define RS__MAX_HOLES   256  /* alert ids skipped by the cursor, looked up again until grace */
#define RS__GAP_MAX     64   /* a bigger jump of alert_id is no commit race: not tracked */
#define RS__HOLE_BATCH  32   /* holes per lookup (a fixed number of placeholders: one statement) */
#define RS__SAMPLE      64   /* newest ids read when the first watcher arrives */
#define RS__PENDING_MAX 1024 /* live alerts held for a watcher while its backlog is read */
#define RS__ROUNDS      20   /* pages per poll while there is a backlog to fan out */
#define RS__MAX_KINDS   16   /* entries of the kinds filter */
#define RS__ALL_KINDS                                                                              \
    ((1u << RESELLER__V1__ALERT_KIND__ALERT_KIND_CUSTOMER_CREDIT_USAGE) |                          \
     (1u << RESELLER__V1__ALERT_KIND__ALERT_KIND_VOUCHER_QUOTA_LOW) |                              \
     (1u << RESELLER__V1__ALERT_KIND__ALERT_KIND_CREDIT_POOL_LOW))
#define RS__PACKED_MAX 1024 /* an alert message is < 400 bytes (ids are <= 64 characters) */

/* One credit_alerts row. */
typedef struct rs__alert {
    uint64_t id;
    int kind, threshold;
    int64_t used, limit, created_us;
    char reseller[65], customer[65], currency[4], trigger[65];
} rs__alert;

typedef struct rs__hole {
    uint64_t id;
    int64_t since_us; /* when the cursor jumped over it */
} rs__hole;

typedef struct rs__hub rs__hub;

typedef struct rs__watcher {
    rs__hub *hub;
    vc_rpc_ctx *ctx; /* valid while listed (the close callback unlists) */
    char reseller[65];
    char customer[65]; /* "" = every customer and the reseller's own alerts */
    unsigned kinds;    /* bit per AlertKind */
    uint64_t floor;    /* only alerts after this id (the resume point; 0 = all) */
    int refs;          /* the handler's and the stream's */
    bool listed, closed, dead, catching_up, overflow;
    rs__alert *pending; /* live alerts held back while catching up (malloc) */
    size_t n_pending, cap_pending;
    struct rs__watcher *prev, *next;
} rs__watcher;

/* Where a poll or a backlog starts from: the hub's position at one moment. */
typedef struct rs__snap {
    uint64_t gen, cursor;
    uint64_t holes[RS__MAX_HOLES];
    size_t n_holes;
} rs__snap;

struct rs__hub {
    rs_app *app;
    pthread_mutex_t mu;
    rs__watcher *watchers;
    atomic_uint n_watchers; /* also read without mu by the gauge */
    bool valid;             /* cursor and holes follow the table (only while someone watches) */
    uint64_t gen;           /* bumped whenever valid drops: older snapshots are void */
    uint64_t cursor;        /* highest alert_id fanned out */
    rs__hole holes[RS__MAX_HOLES];
    size_t n_holes;
    vc_metrics_counter *streamed;
    pthread_mutex_t poll_mu; /* guards what follows: one poll at a time */
    rs__alert *buf;          /* RS__MAX_HOLES + RS_ALERTS_PAGE rows */
    bool db_failing;         /* an outage is logged once */
};

/* One hub per process: the CustomerService table's data is the rs_app, which has no slot for
   it, and the process serves one app. Written before the server starts and after it stopped. */
static rs__hub *rs__the_hub;

static rs__hub *rs__hub_of(const rs_app *app)
{
    return rs__the_hub && rs__the_hub->app == app ? rs__the_hub : NULL;
}

/* ---- rows -------------------------------------------------------------------------------- */

#define RS__COLS                                                                                   \
    "SELECT alert_id, reseller_id, kind, customer_id, threshold_percent, used_minor, "             \
    "limit_minor, currency_code, trigger_id, created_us FROM credit_alerts "
#define RS__Q4  "?,?,?,?"
#define RS__Q32 RS__Q4 "," RS__Q4 "," RS__Q4 "," RS__Q4 "," RS__Q4 "," RS__Q4 "," RS__Q4 "," RS__Q4

static int rs__alert_read(vc_db_rows *r, rs__alert *a)
{
    int64_t kind = 0, threshold = 0;
    int rc = vc_db_get_u64(r, 0, &a->id);
    if (!rc) rc = vc_db_copy_str(r, 1, a->reseller, sizeof(a->reseller));
    if (!rc) rc = vc_db_get_i64(r, 2, &kind);
    if (!rc) rc = vc_db_copy_str(r, 3, a->customer, sizeof(a->customer));
    if (!rc) rc = vc_db_get_i64(r, 4, &threshold);
    if (!rc) rc = vc_db_get_i64(r, 5, &a->used);
    if (!rc) rc = vc_db_get_i64(r, 6, &a->limit);
    if (!rc) rc = vc_db_copy_str(r, 7, a->currency, sizeof(a->currency));
    if (!rc) rc = vc_db_copy_str(r, 8, a->trigger, sizeof(a->trigger));
    if (!rc) rc = vc_db_get_i64(r, 9, &a->created_us);
    a->kind = (int)kind;
    a->threshold = (int)threshold;
    return rc;
}

/* Runs a query of RS__COLS and reads at most `max` rows into out; *n gets how many. */
static int rs__fetch_rows(vc_db_conn *c, const char *sql, const vc_db_param *p, size_t np,
                          rs__alert *out, size_t max, size_t *n)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c, sql, p, np, &rows);
    if (rc < 0) return rc;
    *n = 0;
    while (*n < max && (rc = vc_db_next(rows)) == 1) {
        if ((rc = rs__alert_read(rows, &out[*n])) < 0) break;
        (*n)++;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

/* The stream message of an alert, packed into buf; 0 if it does not fit (cannot happen). */
static size_t rs__pack(const rs__alert *a, unsigned char *buf, size_t cap)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, a->id);
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = a->created_us / 1000000;
    ts.nanos = (int32_t)(a->created_us % 1000000) * 1000;
    Reseller__V1__CreditAlert al = RESELLER__V1__CREDIT_ALERT__INIT;
    al.alert_id = id;
    al.reseller_id = (char *)a->reseller;
    al.kind = (Reseller__V1__AlertKind)a->kind;
    al.customer_id = (char *)a->customer;
    al.threshold_percent = a->threshold;
    al.used_minor = a->used;
    al.limit_minor = a->limit;
    al.currency_code = (char *)a->currency;
    al.trigger_id = (char *)a->trigger;
    al.create_time = &ts;
    Reseller__V1__WatchCreditAlertsResponse m = RESELLER__V1__WATCH_CREDIT_ALERTS_RESPONSE__INIT;
    m.alert = &al;
    if (protobuf_c_message_get_packed_size(&m.base) > cap) return 0;
    return protobuf_c_message_pack(&m.base, buf);
}

/* Queues one packed alert on w's stream (under mu). A refused send means the stream is ending
   (its reader fell too far behind, or it is gone): the watcher gets nothing more. */
static void rs__send(rs__hub *h, rs__watcher *w, const unsigned char *buf, size_t len)
{
    if (w->dead || w->closed) return;
    if (len == 0 || vc_rpc_stream_send_packed(w->ctx, buf, len) != 0) {
        w->dead = true;
        return;
    }
    vc_metrics_counter_add(h->streamed, 1);
}

static void rs__send_alert(rs__hub *h, rs__watcher *w, const rs__alert *a)
{
    unsigned char buf[RS__PACKED_MAX];
    rs__send(h, w, buf, rs__pack(a, buf, sizeof(buf)));
}

static bool rs__wants(const rs__watcher *w, const rs__alert *a)
{
    if (w->dead || w->closed || a->id <= w->floor || a->kind < 1 || a->kind > 31) return false;
    if (!(w->kinds & (1u << a->kind)) || strcmp(w->reseller, a->reseller) != 0) return false;
    return !w->customer[0] || strcmp(w->customer, a->customer) == 0;
}

/* Holds a live alert for a watcher still reading its backlog; past the bound it is ended. */
static void rs__hold(rs__watcher *w, const rs__alert *a)
{
    if (w->overflow) return;
    if (w->n_pending == w->cap_pending) {
        size_t cap = w->cap_pending ? w->cap_pending * 2 : 16;
        rs__alert *p = cap <= RS__PENDING_MAX ? realloc(w->pending, cap * sizeof(*p)) : NULL;
        if (!p) {
            w->overflow = true;
            return;
        }
        w->pending = p;
        w->cap_pending = cap;
    }
    w->pending[w->n_pending++] = *a;
}

/* Hands one alert to every watcher that wants it (under mu); packed once for all. */
static void rs__fanout(rs__hub *h, const rs__alert *a)
{
    unsigned char buf[RS__PACKED_MAX];
    size_t len = 0;
    bool packed = false;
    for (rs__watcher *w = h->watchers; w; w = w->next) {
        if (!rs__wants(w, a)) continue;
        if (w->catching_up) {
            rs__hold(w, a);
            continue;
        }
        if (!packed) {
            len = rs__pack(a, buf, sizeof(buf));
            packed = true;
        }
        rs__send(h, w, buf, len);
    }
}

/* ---- the hub's position: cursor and holes (under mu) --------------------------------------- */

/* Remembers the ids between `from` and `to` (exclusive) as holes. */
static void rs__holes_add(rs__hub *h, uint64_t from, uint64_t to)
{
    if (to <= from + 1 || to - from - 1 > RS__GAP_MAX) return;
    int64_t now = vc_now_us();
    for (uint64_t id = from + 1; id < to; id++) {
        if (h->n_holes == RS__MAX_HOLES) { /* forget the oldest */
            memmove(h->holes, h->holes + 1, (RS__MAX_HOLES - 1) * sizeof(h->holes[0]));
            h->n_holes--;
        }
        h->holes[h->n_holes++] = (rs__hole){.id = id, .since_us = now};
    }
}

/* Removes `id` from the holes; false when it was none (already seen, or given up on). */
static bool rs__hole_take(rs__hub *h, uint64_t id)
{
    for (size_t i = 0; i < h->n_holes; i++) {
        if (h->holes[i].id == id) {
            memmove(h->holes + i, h->holes + i + 1, (h->n_holes - i - 1) * sizeof(h->holes[0]));
            h->n_holes--;
            return true;
        }
    }
    return false;
}

static bool rs__in(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

/* Copies the position, dropping holes past their grace; false when nobody watches. */
static bool rs__snapshot(rs__hub *h, rs__snap *s)
{
    if (!h->valid || !h->watchers) return false;
    int64_t now = vc_now_us();
    size_t k = 0;
    for (size_t i = 0; i < h->n_holes; i++)
        if (now - h->holes[i].since_us < RS_ALERTS_HOLE_GRACE_US) h->holes[k++] = h->holes[i];
    h->n_holes = k;
    s->gen = h->gen;
    s->cursor = h->cursor;
    s->n_holes = k;
    for (size_t i = 0; i < k; i++)
        s->holes[i] = h->holes[i].id;
    return true;
}

static void rs__unlist(rs__hub *h, rs__watcher *w)
{
    if (!w->listed) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        h->watchers = w->next;
    if (w->next) w->next->prev = w->prev;
    w->listed = false;
    if (atomic_fetch_sub(&h->n_watchers, 1) == 1) {
        /* Nobody watches: polls stop, so the position goes stale; the next watcher renews it. */
        h->valid = false;
        h->gen++;
        h->n_holes = 0;
    }
}

static void rs__unref(rs__watcher *w)
{
    if (--w->refs > 0) return;
    free(w->pending);
    free(w);
}

/* ---- polling ------------------------------------------------------------------------------ */

typedef struct rs__fetch {
    const rs__snap *snap;
    rs__alert *rows; /* holes that filled first, then new alerts */
    size_t n_fill, n_new;
} rs__fetch;

static int rs__fetch_fn(vc_db_conn *c, void *arg)
{
    rs__fetch *f = arg;
    const rs__snap *s = f->snap;
    f->n_fill = f->n_new = 0;
    for (size_t i = 0; i < s->n_holes; i += RS__HOLE_BATCH) {
        vc_db_param p[RS__HOLE_BATCH];
        for (size_t j = 0; j < RS__HOLE_BATCH; j++) /* 0 is no alert id: pads the batch */
            p[j] = vc_db_u64(i + j < s->n_holes ? s->holes[i + j] : 0);
        size_t got = 0;
        int rc =
            rs__fetch_rows(c, RS__COLS "WHERE alert_id IN (" RS__Q32 ") ORDER BY alert_id", p,
                           RS__HOLE_BATCH, f->rows + f->n_fill, RS__MAX_HOLES - f->n_fill, &got);
        if (rc < 0) return rc;
        f->n_fill += got;
    }
    return rs__fetch_rows(c, RS__COLS "WHERE alert_id > ? ORDER BY alert_id LIMIT ?",
                          VC_DB_ARGS(vc_db_u64(s->cursor), vc_db_i64(RS_ALERTS_PAGE)),
                          f->rows + f->n_fill, RS_ALERTS_PAGE, &f->n_new);
}

/* Fans out what a poll read (under mu), unless the position was reset since its snapshot. */
static void rs__apply(rs__hub *h, const rs__snap *s, const rs__fetch *f)
{
    if (s->gen != h->gen) return;
    for (size_t i = 0; i < f->n_fill; i++)
        if (rs__hole_take(h, f->rows[i].id)) rs__fanout(h, &f->rows[i]);
    for (size_t i = f->n_fill; i < f->n_fill + f->n_new; i++) {
        const rs__alert *a = &f->rows[i];
        if (a->id <= h->cursor) continue;
        rs__holes_add(h, h->cursor, a->id);
        h->cursor = a->id;
        rs__fanout(h, a);
    }
}

static void rs__db_status(rs__hub *h, int rc)
{
    if (rc < 0 && !h->db_failing)
        vc_logf(VC_LOG_WARN, "alerts hub: cannot read credit_alerts (%s); watchers wait",
                vc_strerror(rc));
    else if (rc >= 0 && h->db_failing)
        vc_logf(VC_LOG_INFO, "alerts hub: reading credit_alerts again");
    h->db_failing = rc < 0;
}

/* One poll (poll_mu held): page after page while pages come back full. */
static void rs__poll(rs__hub *h)
{
    for (int round = 0; round < RS__ROUNDS; round++) {
        rs__snap s;
        pthread_mutex_lock(&h->mu);
        bool anyone = rs__snapshot(h, &s);
        pthread_mutex_unlock(&h->mu);
        if (!anyone) return;
        rs__fetch f = {.snap = &s, .rows = h->buf};
        int rc = vc_db_run(h->app->db, rs__fetch_fn, &f);
        rs__db_status(h, rc);
        if (rc < 0) return;
        pthread_mutex_lock(&h->mu);
        rs__apply(h, &s, &f);
        pthread_mutex_unlock(&h->mu);
        if (f.n_new < RS_ALERTS_PAGE) return;
    }
}

static void rs__poll_job(void *arg)
{
    rs__hub *h = arg;
    pthread_mutex_lock(&h->poll_mu);
    rs__poll(h);
    pthread_mutex_unlock(&h->poll_mu);
}

void rs_alerts_hub_poke(rs_app *app)
{
    rs__hub *h = rs__hub_of(app);
    if (!h || atomic_load(&h->n_watchers) == 0 || pthread_mutex_trylock(&h->poll_mu) != 0) return;
    rs__poll(h);
    pthread_mutex_unlock(&h->poll_mu);
}

/* ---- registering a watcher ----------------------------------------------------------------- */

/* The newest ids, newest first: where a hub that nobody watched starts again. */
typedef struct rs__sample {
    uint64_t ids[RS__SAMPLE];
    size_t n;
} rs__sample;

static int rs__sample_fn(vc_db_conn *c, void *arg)
{
    rs__sample *s = arg;
    vc_db_rows *rows;
    int rc = vc_db_query(c, "SELECT alert_id FROM credit_alerts ORDER BY alert_id DESC LIMIT ?",
                         VC_DB_ARGS(vc_db_i64(RS__SAMPLE)), &rows);
    if (rc < 0) return rc;
    s->n = 0;
    while (s->n < RS__SAMPLE && (rc = vc_db_next(rows)) == 1)
        if ((rc = vc_db_get_u64(rows, 0, &s->ids[s->n++])) < 0) break;
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

/* Starts from the sample (under mu): the gaps among the newest ids may still commit. */
static void rs__adopt(rs__hub *h, const rs__sample *s)
{
    h->n_holes = 0;
    h->cursor = s->n ? s->ids[0] : 0;
    for (size_t i = s->n; i-- > 1;)
        rs__holes_add(h, s->ids[i], s->ids[i - 1]);
    h->valid = true;
}

/* Lists w, renewing a stale position first (read outside mu: polls and closes go on). When w
   resumes from behind the cursor it starts catching up and `s` gets the position whose
   fanned-out alerts its backlog must supply. */
static int rs__register(rs__hub *h, rs__watcher *w, bool resume, rs__snap *s)
{
    rs__sample sample;
    bool sampled = false;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        if (h->valid) break;
        if (sampled) {
            rs__adopt(h, &sample);
            break;
        }
        pthread_mutex_unlock(&h->mu);
        int rc = vc_db_run(h->app->db, rs__sample_fn, &sample);
        if (rc < 0) return rc;
        sampled = true;
    }
    if (w->closed) {
        pthread_mutex_unlock(&h->mu);
        return VC_ECANCELED;
    }
    if (resume && w->floor < h->cursor) {
        w->catching_up = true;
        s->gen = h->gen;
        s->cursor = h->cursor;
        s->n_holes = h->n_holes;
        for (size_t i = 0; i < h->n_holes; i++)
            s->holes[i] = h->holes[i].id;
    }
    w->next = h->watchers;
    if (h->watchers) h->watchers->prev = w;
    h->watchers = w;
    w->listed = true;
    atomic_fetch_add(&h->n_watchers, 1);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

typedef struct rs__backlog {
    const rs__watcher *w;
    uint64_t upto;
    rs__alert *rows; /* RS_ALERTS_BACKLOG_MAX + 1: one more tells "too many" */
    size_t n;
} rs__backlog;

static int rs__backlog_fn(vc_db_conn *c, void *arg)
{
    rs__backlog *b = arg;
    const rs__watcher *w = b->w;
    const size_t max = RS_ALERTS_BACKLOG_MAX + 1;
    if (w->customer[0])
        return rs__fetch_rows(c,
                              RS__COLS "WHERE reseller_id = ? AND customer_id = ? AND alert_id > ? "
                                       "AND alert_id <= ? AND ((? >> kind) & 1) = 1 "
                                       "ORDER BY alert_id LIMIT ?",
                              VC_DB_ARGS(vc_db_str(w->reseller), vc_db_str(w->customer),
                                         vc_db_u64(w->floor), vc_db_u64(b->upto),
                                         vc_db_i64(w->kinds), vc_db_i64((int64_t)max)),
                              b->rows, max, &b->n);
    return rs__fetch_rows(c,
                          RS__COLS "WHERE reseller_id = ? AND alert_id > ? AND alert_id <= ? "
                                   "AND ((? >> kind) & 1) = 1 ORDER BY alert_id LIMIT ?",
                          VC_DB_ARGS(vc_db_str(w->reseller), vc_db_u64(w->floor),
                                     vc_db_u64(b->upto), vc_db_i64(w->kinds),
                                     vc_db_i64((int64_t)max)),
                          b->rows, max, &b->n);
}

/* Sends the stored alerts after the resume point up to the snapshot's cursor (minus its holes,
   which the hub delivers live when they fill), then the live ones held meanwhile, and turns w
   live. A gRPC code; on error w must stop receiving (the caller unlists it). */
static int rs__catch_up(rs__hub *h, rs__watcher *w, vc_rpc_ctx *ctx, const rs__snap *s)
{
    rs__backlog b = {.w = w, .upto = s->cursor};
    b.rows = malloc((RS_ALERTS_BACKLOG_MAX + 1) * sizeof(*b.rows));
    if (!b.rows) return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    int rc = vc_db_run(h->app->db, rs__backlog_fn, &b);
    int code = VC_GRPC_OK;
    if (rc < 0) {
        code = rs_fail(ctx, rc, "read the alerts to replay");
    } else if (b.n > RS_ALERTS_BACKLOG_MAX) {
        code = vc_rpc_error(ctx, VC_GRPC_OUT_OF_RANGE,
                            "resume point too old, list instead (more than %d alerts after it)",
                            RS_ALERTS_BACKLOG_MAX);
    } else {
        pthread_mutex_lock(&h->mu);
        for (size_t i = 0; i < b.n; i++)
            if (!rs__in(s->holes, s->n_holes, b.rows[i].id)) rs__send_alert(h, w, &b.rows[i]);
        for (size_t i = 0; i < w->n_pending; i++)
            rs__send_alert(h, w, &w->pending[i]);
        free(w->pending);
        w->pending = NULL;
        w->n_pending = w->cap_pending = 0;
        w->catching_up = false;
        if (w->overflow) { /* live alerts were dropped: resuming again finds them */
            w->dead = true;
            code = vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED,
                                "too many alerts while replaying; resume again");
        }
        pthread_mutex_unlock(&h->mu);
    }
    free(b.rows);
    return code;
}

/* ---- the handler ---------------------------------------------------------------------------- */

typedef struct rs__exists {
    const char *tenant, *customer;
} rs__exists;

static int rs__exists_fn(vc_db_conn *c, void *arg)
{
    const rs__exists *e = arg;
    return rs_customer_exists(c, e->tenant, e->customer);
}

/* Checks the filters into w (every violation named, then INVALID_ARGUMENT). */
static int rs__parse(vc_rpc_ctx *ctx, const Reseller__V1__WatchCreditAlertsRequest *req,
                     rs__watcher *w, bool *resume)
{
    rs_check_id(ctx, "customer_id", req->customer_id, false);
    if (req->n_kinds > RS__MAX_KINDS) vc_rpc_invalid(ctx, "kinds", "at most %d", RS__MAX_KINDS);
    for (size_t i = 0; i < req->n_kinds && i < RS__MAX_KINDS; i++) {
        int k = (int)req->kinds[i];
        if (k < RESELLER__V1__ALERT_KIND__ALERT_KIND_CUSTOMER_CREDIT_USAGE ||
            k > RESELLER__V1__ALERT_KIND__ALERT_KIND_CREDIT_POOL_LOW)
            vc_rpc_invalid(ctx, "kinds", "unknown alert kind %d", k);
        else
            w->kinds |= 1u << k;
    }
    if (!req->n_kinds) w->kinds = RS__ALL_KINDS;
    const char *r = req->resume_after_alert_id ? req->resume_after_alert_id : "";
    *resume = *r != '\0';
    size_t len = strspn(r, "0123456789");
    uint64_t v = 0;
    bool ok = r[len] == '\0' && len <= 20;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned d = (unsigned)(r[i] - '0');
        ok = v <= (UINT64_MAX - d) / 10;
        v = v * 10 + d;
    }
    if (!ok) vc_rpc_invalid(ctx, "resume_after_alert_id", "must be an alert id (decimal digits)");
    w->floor = v;
    if (req->customer_id && strlen(req->customer_id) < sizeof(w->customer))
        memcpy(w->customer, req->customer_id, strlen(req->customer_id) + 1);
    return vc_rpc_error_code(ctx);
}

static void rs__watch_closed(vc_rpc_ctx *ctx, void *user)
{
    (void)ctx;
    rs__watcher *w = user;
    rs__hub *h = w->hub;
    pthread_mutex_lock(&h->mu);
    w->closed = true;
    rs__unlist(h, w);
    rs__unref(w);
    pthread_mutex_unlock(&h->mu);
}

/* Checks the customer filter, registers the watcher and replays its backlog; a gRPC code. */
static int rs__start_watch(rs__hub *h, rs__watcher *w, vc_rpc_ctx *ctx, bool resume)
{
    if (w->customer[0]) {
        rs__exists e = {.tenant = w->reseller, .customer = w->customer};
        int rc = vc_db_run(h->app->db, rs__exists_fn, &e);
        if (rc == VC_ENOENT)
            return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "customer %s not found", w->customer);
        if (rc < 0) return rs_fail(ctx, rc, "look up the customer");
    }
    rs__snap *s = calloc(1, sizeof(*s));
    if (!s) return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    int code = VC_GRPC_OK;
    int rc = rs__register(h, w, resume, s);
    if (rc == VC_ECANCELED)
        code = vc_rpc_error(ctx, VC_GRPC_CANCELLED, "the client went away");
    else if (rc < 0)
        code = rs_fail(ctx, rc, "start watching alerts");
    else if (w->catching_up)
        code = rs__catch_up(h, w, ctx, s);
    free(s);
    return code;
}

int rs_watch_credit_alerts(vc_rpc_ctx *ctx, const void *req_)
{
    const Reseller__V1__WatchCreditAlertsRequest *req = req_;
    rs_app *app = vc_rpc_service_data(ctx);
    rs__hub *h = rs__hub_of(app);
    if (!h) return vc_rpc_error(ctx, VC_GRPC_UNAVAILABLE, "alert streaming is not running");
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code) return code;
    rs__watcher probe = {0};
    bool resume = false;
    if ((code = rs__parse(ctx, req, &probe, &resume)) != VC_GRPC_OK) return code;
    rs__watcher *w = malloc(sizeof(*w));
    if (!w) return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    *w = probe;
    w->hub = h;
    w->ctx = ctx;
    w->refs = 2; /* this handler's, and the stream's until its close callback */
    memcpy(w->reseller, tenant, sizeof(tenant));
    /* Before anything slow: a client that goes away during the database work below is seen
       (closed) instead of being registered after its stream ended. */
    vc_rpc_stream_on_close(ctx, rs__watch_closed, w);
    code = rs__start_watch(h, w, ctx, resume);
    pthread_mutex_lock(&h->mu);
    if (code != VC_GRPC_OK) rs__unlist(h, w);
    rs__unref(w);
    pthread_mutex_unlock(&h->mu);
    return code == VC_GRPC_OK ? VC_RPC_PENDING : code;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

static double rs__gauge_watchers(void *arg)
{
    return (double)atomic_load(&((rs__hub *)arg)->n_watchers);
}

unsigned rs_alerts_hub_watchers(const rs_app *app)
{
    rs__hub *h = rs__hub_of(app);
    return h ? atomic_load(&h->n_watchers) : 0;
}

int rs_alerts_hub_start(rs_app *app)
{
    if (rs__the_hub) return VC_EINVAL;
    rs__hub *h = calloc(1, sizeof(*h));
    if (!h) return VC_ENOMEM;
    h->buf = malloc((RS__MAX_HOLES + RS_ALERTS_PAGE) * sizeof(*h->buf));
    if (!h->buf) {
        free(h);
        return VC_ENOMEM;
    }
    h->app = app;
    atomic_init(&h->n_watchers, 0);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->poll_mu, NULL);
    rs__the_hub = h;
    vc_metrics *m = vc_svc_metrics(app->svc);
    if (m) {
        vc_metrics_gauge(m, "vc_alert_watchers", "Open WatchCreditAlerts streams.",
                         rs__gauge_watchers, h);
        h->streamed = vc_metrics_counter_new(m, "vc_alerts_streamed_total",
                                             "Credit alerts queued to WatchCreditAlerts streams.");
    }
    int rc = vc_svc_add_job(app->svc, "alerts", RS_ALERTS_POLL_MS, rs__poll_job, h);
    if (rc != 0) rs_alerts_hub_stop(app);
    return rc;
}

void rs_alerts_hub_stop(rs_app *app)
{
    rs__hub *h = rs__hub_of(app);
    if (!h) return;
    rs__the_hub = NULL;
    /* Streams unregister in their close callbacks, which all ran when the server was freed. */
    for (rs__watcher *w = h->watchers, *n; w; w = n) {
        n = w->next;
        free(w->pending);
        free(w);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->poll_mu);
    free(h->buf);
    free(h);
}
