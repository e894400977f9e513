/*
 * vc_svc.c - see vc_svc.h. The order of start-up and tear-down here is the one place where the
 * modules' lifetimes meet; read it top to bottom.
 */
#include "svc/vc_svc.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vc_err.h"
#include "outbox/vc_outbox.h"
#include "rpc/vc_health.h"
#include "rpc/vc_reflection.h"
#include "rpc/vc_reflection_service.h"
#include "runtime/vc_log.h"

#define VC__MAX_SERVICES 32

typedef struct vc__job {
    vc_svc *svc;
    const char *name;
    uint64_t interval_ms;
    vc_svc_job_fn work;
    void *arg;
    uv_timer_t timer;
    uv_work_t req;
    bool running;
    struct vc__job *next;
} vc__job;

struct vc_svc {
    const vc_svc_def *def;
    void *cfg_mem; /* the service's config struct */
    vc_svc_config *cfg;
    vc_option *options;
    size_t n_options;
    unsigned char *jwt_key;
    size_t jwt_key_len;
    vc_auth *auth;
    vc_db_pool *db;
    vc_metrics *metrics;
    vc_health *health;
    vc_reflection *reflection;
    vc_rpc_service reflection_tables[2];
    vc_rpc_server *server;
    const vc_rpc_service *services[VC__MAX_SERVICES];
    unsigned n_services;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t health_timer;
    uv_work_t health_req;
    bool health_running, db_up, stopping;
    vc__job *jobs;
};

#define VC__OPT(n, t, field, def, help) {n, t, offsetof(vc_svc_config, field), def, help, 0, 0}
#define VC__OPT_R(n, field, def, help, lo, hi)                                                     \
    {n, VC_OPT_INT, offsetof(vc_svc_config, field), def, help, lo, hi}

/* Defaults that depend on the service (listen, metrics, db name) are filled in at run time. */
static const vc_option vc__common_options[] = {
    VC__OPT("listen", VC_OPT_STRING, listen, NULL, "gRPC listen address host:port (port 0 = any free port)"),
    VC__OPT("metrics-listen", VC_OPT_STRING, metrics_listen, NULL,
            "Prometheus /metrics HTTP address host:port; empty disables it"),
    VC__OPT("db-host", VC_OPT_STRING, db_host, "127.0.0.1", "MariaDB/MySQL host (ignored with --db-socket)"),
    VC__OPT_R("db-port", db_port, "3306", "MariaDB/MySQL TCP port", 1, 65535),
    VC__OPT("db-socket", VC_OPT_STRING, db_socket, NULL, "MariaDB unix socket path (preferred over host/port)"),
    VC__OPT("db-user", VC_OPT_STRING, db_user, "vc", "database user"),
    VC__OPT("db-password", VC_OPT_STRING, db_password, NULL, "database password"),
    VC__OPT("db-password-file", VC_OPT_STRING, db_password_file, NULL, "file holding the database password"),
    VC__OPT("db-name", VC_OPT_STRING, db_name, NULL, "database (schema) owned by this service"),
    VC__OPT_R("db-pool-size", db_pool_size, "16", "database connections", 1, 512),
    VC__OPT_R("db-wait-ms", db_wait_ms, "30000", "how long start-up waits for the database", 0, 3600000),
    VC__OPT("jwt-secret", VC_OPT_STRING, jwt_secret, NULL, "HS256 key for bearer tokens (>= 32 bytes)"),
    VC__OPT("jwt-secret-file", VC_OPT_STRING, jwt_secret_file, NULL, "file holding the HS256 key"),
    VC__OPT_R("workers", workers, "16", "RPC worker threads (handlers that may block on the DB)", 1, 1024),
    VC__OPT_R("drain-timeout-ms", drain_timeout_ms, "20000",
              "on SIGTERM, how long in-flight calls may take before they are cancelled", 0, 600000),
    VC__OPT_R("lame-duck-ms", lame_duck_ms, "500",
              "on SIGTERM, how long new calls are refused with UNAVAILABLE before the port closes",
              0, 60000),
    VC__OPT_R("health-interval-ms", health_interval_ms, "1000", "database probe period for grpc.health", 100, 60000),
    VC__OPT("log-level", VC_OPT_STRING, log_level, "info", "debug, info, warn or error"),
    VC__OPT("ready-file", VC_OPT_STRING, ready_file, NULL,
            "write grpc_port=/metrics_port=/pid= here once serving (tests, scripts)"),
    VC__OPT("migrate", VC_OPT_BOOL, migrate, "false", "apply pending database migrations and exit"),
};

#define VC__N_COMMON (sizeof(vc__common_options) / sizeof(vc__common_options[0]))

/* ---- accessors ------------------------------------------------------------------------------ */

const void *vc_svc_config_of(const vc_svc *svc)
{
    return svc->cfg_mem;
}
vc_db_pool *vc_svc_db(vc_svc *svc)
{
    return svc->db;
}
const vc_auth *vc_svc_auth(vc_svc *svc)
{
    return svc->auth;
}
vc_metrics *vc_svc_metrics(vc_svc *svc)
{
    return svc->metrics;
}
uv_loop_t *vc_svc_loop(vc_svc *svc)
{
    return &svc->loop;
}

int vc_svc_add_service(vc_svc *svc, const vc_rpc_service *table)
{
    if (svc->n_services >= VC__MAX_SERVICES)
        return VC_ENOMEM;
    svc->services[svc->n_services++] = table;
    return 0;
}

/* ---- configuration -------------------------------------------------------------------------- */

static int vc__parse_config(vc_svc *svc, int argc, char **argv)
{
    const vc_svc_def *def = svc->def;
    svc->n_options = VC__N_COMMON + def->n_options;
    svc->options = calloc(svc->n_options, sizeof(vc_option));
    size_t cfg_size = def->cfg_size > sizeof(vc_svc_config) ? def->cfg_size : sizeof(vc_svc_config);
    svc->cfg_mem = calloc(1, cfg_size);
    if (!svc->options || !svc->cfg_mem)
        return VC_ENOMEM;
    memcpy(svc->options, vc__common_options, sizeof(vc__common_options));
    for (size_t i = 0; i < VC__N_COMMON; i++) {
        vc_option *o = &svc->options[i];
        if (strcmp(o->name, "listen") == 0)
            o->default_value = def->default_listen;
        else if (strcmp(o->name, "metrics-listen") == 0)
            o->default_value = def->default_metrics_listen;
        else if (strcmp(o->name, "db-name") == 0)
            o->default_value = def->default_db_name;
    }
    if (def->n_options)
        memcpy(svc->options + VC__N_COMMON, def->options, def->n_options * sizeof(vc_option));
    svc->cfg = svc->cfg_mem;
    return vc_config_parse(svc->options, svc->n_options, svc->cfg_mem, argc, argv, "VC_",
                           def->name, def->summary);
}

static char *vc__read_file_trimmed(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return strdup(buf);
}

static int vc__open_db(vc_svc *svc)
{
    vc_svc_config *c = svc->cfg;
    char *password = NULL;
    if (c->db_password_file) {
        password = vc__read_file_trimmed(c->db_password_file);
        if (!password) {
            vc_logf(VC_LOG_ERROR, "cannot read --db-password-file %s", c->db_password_file);
            return VC_EINVAL;
        }
    }
    vc_db_opts o = {
        .host = c->db_socket ? NULL : c->db_host, /* a host makes libmariadb use TCP */
        .port = (unsigned)c->db_port,
        .socket = c->db_socket,
        .user = c->db_user,
        .password = password ? password : c->db_password,
        .database = c->db_name,
        .pool_size = (unsigned)c->db_pool_size,
        .connect_timeout_s = 2,
        .rw_timeout_s = 30,
    };
    int rc = vc_db_pool_open(&o, &svc->db);
    free(password);
    return rc;
}

/* Waits for the database, then checks the schema version. */
static int vc__check_schema(vc_svc *svc)
{
    int64_t waited = 0;
    while (vc_db_ping(svc->db, 2000) != 0) {
        if (waited >= svc->cfg->db_wait_ms) {
            vc_logf(VC_LOG_ERROR, "database unreachable after %lld ms", (long long)waited);
            return VC_EDB_UNAVAILABLE;
        }
        if (waited == 0)
            vc_logf(VC_LOG_WARN, "waiting for the database");
        usleep(250 * 1000);
        waited += 250;
    }
    int version = 0;
    int rc = vc_migrate_check(svc->db, svc->def->migrations, *svc->def->n_migrations, &version);
    if (rc != 0)
        vc_log_fields(VC_LOG_ERROR, "refusing to start: schema mismatch",
                      (vc_log_field[]){VC_LOG_I("db_version", version),
                                       VC_LOG_I("binary_version",
                                                svc->def->migrations[*svc->def->n_migrations - 1]
                                                    .version),
                                       VC_LOG_S("error", vc_strerror(rc))},
                      3);
    return rc;
}

static int vc__write_ready_file(vc_svc *svc, int grpc_port, unsigned metrics_port)
{
    const char *path = svc->cfg->ready_file;
    if (!path)
        return 0;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return VC_EIO;
    fprintf(f, "grpc_port=%d\nmetrics_port=%u\npid=%d\n", grpc_port, metrics_port, (int)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return VC_EIO;
    return 0;
}

/* ---- metrics of the pool ------------------------------------------------------------------ */

#define VC__POOL_GAUGE(fn, field)                                                                  \
    static double fn(void *arg)                                                                    \
    {                                                                                              \
        vc_db_stats st;                                                                            \
        vc_db_pool_stats(arg, &st);                                                                \
        return (double)st.field;                                                                   \
    }
VC__POOL_GAUGE(vc__g_pool_size, size)
VC__POOL_GAUGE(vc__g_pool_leased, leased)
VC__POOL_GAUGE(vc__g_pool_connected, connected)
VC__POOL_GAUGE(vc__g_pool_lease_waits, lease_waits)
VC__POOL_GAUGE(vc__g_pool_lease_timeouts, lease_timeouts)
VC__POOL_GAUGE(vc__g_pool_tx_retries, tx_retries)

/* Undelivered cross-service messages (every service has an outbox): a growing backlog means
   the other service is down or refusing them. */
static int vc__outbox_count(vc_db_conn *c, void *arg)
{
    return vc_outbox_pending(c, arg);
}

static double vc__g_outbox_pending(void *arg)
{
    int64_t n = 0;
    return vc_db_run(arg, vc__outbox_count, &n) == 0 ? (double)n : -1.0;
}

static void vc__register_pool_metrics(vc_svc *svc)
{
    static const struct {
        const char *name, *help;
        vc_metrics_gauge_fn fn;
    } g[] = {
        {"vc_db_pool_size", "Configured database connections.", vc__g_pool_size},
        {"vc_db_pool_leased", "Database connections in use.", vc__g_pool_leased},
        {"vc_db_pool_connected", "Open database connections.", vc__g_pool_connected},
        {"vc_db_pool_lease_waits_total", "Leases that waited for a free connection.",
         vc__g_pool_lease_waits},
        {"vc_db_pool_lease_timeouts_total", "Leases that gave up waiting.",
         vc__g_pool_lease_timeouts},
        {"vc_db_tx_retries_total", "Transactions retried after a deadlock or lock timeout.",
         vc__g_pool_tx_retries},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
        vc_metrics_gauge(svc->metrics, g[i].name, g[i].help, g[i].fn, svc->db);
    vc_metrics_gauge(svc->metrics, "vc_outbox_pending_messages",
                     "Messages to the other service not delivered yet.", vc__g_outbox_pending,
                     svc->db);
}

/* ---- loop: health probe, jobs, signals ------------------------------------------------------- */

static void vc__health_work(uv_work_t *req)
{
    vc_svc *svc = req->data;
    svc->db_up = vc_db_ping(svc->db, 1000) == 0;
}

static void vc__health_done(uv_work_t *req, int status)
{
    vc_svc *svc = req->data;
    svc->health_running = false;
    if (status == 0 && !svc->stopping) {
        if (vc_health_serving(svc->health) != svc->db_up)
            vc_logf(svc->db_up ? VC_LOG_INFO : VC_LOG_WARN, "database %s: health %s",
                    svc->db_up ? "reachable" : "unreachable",
                    svc->db_up ? "SERVING" : "NOT_SERVING");
        vc_health_set_serving(svc->health, svc->db_up);
    }
}

static void vc__health_tick(uv_timer_t *t)
{
    vc_svc *svc = t->data;
    if (svc->health_running || svc->stopping)
        return;
    svc->health_running = true;
    svc->health_req.data = svc;
    uv_queue_work(&svc->loop, &svc->health_req, vc__health_work, vc__health_done);
}

static void vc__job_work(uv_work_t *req)
{
    vc__job *j = req->data;
    j->work(j->arg);
}

static void vc__job_done(uv_work_t *req, int status)
{
    vc__job *j = req->data;
    (void)status;
    j->running = false;
}

static void vc__job_tick(uv_timer_t *t)
{
    vc__job *j = t->data;
    if (j->running || j->svc->stopping)
        return;
    j->running = true;
    j->req.data = j;
    uv_queue_work(&j->svc->loop, &j->req, vc__job_work, vc__job_done);
}

int vc_svc_add_job(vc_svc *svc, const char *name, uint64_t interval_ms, vc_svc_job_fn work,
                   void *arg)
{
    vc__job *j = calloc(1, sizeof(*j));
    if (!j)
        return VC_ENOMEM;
    j->svc = svc;
    j->name = name;
    j->interval_ms = interval_ms ? interval_ms : 1000;
    j->work = work;
    j->arg = arg;
    j->next = svc->jobs;
    svc->jobs = j;
    return 0;
}

static void vc__stop(vc_svc *svc)
{
    if (svc->stopping)
        return;
    svc->stopping = true;
    vc_logf(VC_LOG_INFO, "shutting down: draining in-flight calls");
    vc_health_set_serving(svc->health, false);
    vc_rpc_server_shutdown(svc->server);
    /* Closing every handle lets uv_run return once queued work (jobs, probe) has finished. */
    uv_close((uv_handle_t *)&svc->sigterm, NULL);
    uv_close((uv_handle_t *)&svc->sigint, NULL);
    uv_close((uv_handle_t *)&svc->health_timer, NULL);
    for (vc__job *j = svc->jobs; j; j = j->next)
        uv_close((uv_handle_t *)&j->timer, NULL);
}

static void vc__on_signal(uv_signal_t *h, int signum)
{
    vc_svc *svc = h->data;
    vc_logf(VC_LOG_INFO, "received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    vc__stop(svc);
}

static int vc__start_loop(vc_svc *svc)
{
    uv_loop_init(&svc->loop);
    uv_signal_init(&svc->loop, &svc->sigterm);
    uv_signal_init(&svc->loop, &svc->sigint);
    svc->sigterm.data = svc->sigint.data = svc;
    uv_signal_start(&svc->sigterm, vc__on_signal, SIGTERM);
    uv_signal_start(&svc->sigint, vc__on_signal, SIGINT);
    uv_timer_init(&svc->loop, &svc->health_timer);
    svc->health_timer.data = svc;
    return 0;
}

static void vc__start_timers(vc_svc *svc)
{
    uv_timer_start(&svc->health_timer, vc__health_tick, 0, (uint64_t)svc->cfg->health_interval_ms);
    for (vc__job *j = svc->jobs; j; j = j->next) {
        uv_timer_init(&svc->loop, &j->timer);
        j->timer.data = j;
        uv_timer_start(&j->timer, vc__job_tick, j->interval_ms, j->interval_ms);
    }
}

/* ---- main ----------------------------------------------------------------------------------- */

static int vc__build_server(vc_svc *svc)
{
    const char *names[VC__MAX_SERVICES + 3];
    size_t n = 0;
    for (unsigned i = 0; i < svc->n_services; i++)
        names[n++] = svc->services[i]->descriptor->name;
    names[n++] = "grpc.health.v1.Health";
    names[n++] = vc_reflection_service_names[0];
    names[n++] = vc_reflection_service_names[1];
    int rc = vc_reflection_new(svc->def->descriptor_set, *svc->def->descriptor_set_len, names, n,
                               &svc->reflection);
    if (rc != 0) {
        vc_logf(VC_LOG_ERROR, "reflection index: %s", vc_strerror(rc));
        return rc;
    }
    vc_rpc_server_opts o = {
        .listen = svc->cfg->listen,
        .service_name = svc->def->name,
        .workers = (unsigned)svc->cfg->workers,
        .auth = svc->auth,
        .metrics = svc->metrics,
        .reflection = svc->reflection,
        .lame_duck_ms = (unsigned)svc->cfg->lame_duck_ms,
        .worker_exit = vc_db_thread_end,
    };
    if ((rc = vc_rpc_server_new(&o, &svc->server)) != 0)
        return rc;
    for (unsigned i = 0; i < svc->n_services; i++) {
        if ((rc = vc_rpc_server_add_service(svc->server, svc->services[i])) != 0)
            return rc;
        vc_health_add_name(svc->health, svc->services[i]->descriptor->name);
    }
    vc_reflection_services(svc->reflection, svc->reflection_tables);
    if ((rc = vc_rpc_server_add_service(svc->server, vc_health_service(svc->health))) != 0 ||
        (rc = vc_rpc_server_add_service(svc->server, &svc->reflection_tables[0])) != 0 ||
        (rc = vc_rpc_server_add_service(svc->server, &svc->reflection_tables[1])) != 0)
        return rc;
    return 0;
}

static int vc__migrate(vc_svc *svc)
{
    int applied = 0;
    int rc = VC_EDB_UNAVAILABLE;
    for (int64_t waited = 0;; waited += 250) {
        if (vc_db_ping(svc->db, 2000) == 0) {
            rc = vc_migrate_apply(svc->db, svc->def->migrations, *svc->def->n_migrations, &applied);
            break;
        }
        if (waited >= svc->cfg->db_wait_ms)
            break;
        usleep(250 * 1000);
    }
    if (rc != 0) {
        char why[512];
        vc_db_pool_errmsg(svc->db, why, sizeof(why));
        vc_logf(VC_LOG_ERROR, "migration failed: %s (%s)", vc_strerror(rc), why);
        return 1;
    }
    vc_log_fields(VC_LOG_INFO, "migrations applied",
                  (vc_log_field[]){VC_LOG_I("applied", applied),
                                   VC_LOG_I("version",
                                            svc->def->migrations[*svc->def->n_migrations - 1].version)},
                  2);
    return 0;
}

static void vc__teardown(vc_svc *svc, void *state)
{
    vc_rpc_server_free(svc->server); /* joins the workers: no handler runs after this */
    if (svc->def->fini && state)
        svc->def->fini(state);
    vc_health_free(svc->health);
    vc_reflection_free(svc->reflection);
    vc_metrics_free(svc->metrics);
    if (svc->db)
        vc_db_pool_close(svc->db);
    vc_auth_free(svc->auth);
    free(svc->jwt_key);
    for (vc__job *j = svc->jobs, *n; j; j = n) {
        n = j->next;
        free(j);
    }
    if (svc->cfg_mem)
        vc_config_free(svc->options, svc->n_options, svc->cfg_mem);
    free(svc->cfg_mem);
    free(svc->options);
    vc_db_thread_end();
    vc_db_library_end();
}

int vc_svc_main(const vc_svc_def *def, int argc, char **argv)
{
    vc_svc svc_storage = {.def = def};
    vc_svc *svc = &svc_storage;
    void *state = NULL;
    int exit_code = 1;
    signal(SIGPIPE, SIG_IGN);
    /* glibc gives every thread that allocates its own malloc arena (up to 8 per core); with ~30
       threads (RPC workers, gRPC, libuv pool) that alone is tens of MiB of RSS under load.
       Allocation here is light (per-call arenas), so a few shared arenas cost nothing. */
    mallopt(M_ARENA_MAX, 2);

    int rc = vc__parse_config(svc, argc, argv);
    if (rc == 1) {
        exit_code = 0; /* --help */
        goto out;
    }
    if (rc != 0) {
        exit_code = 2;
        goto out;
    }
    vc_log_level lvl = VC_LOG_INFO;
    if (vc_log_level_parse(svc->cfg->log_level, &lvl) != 0) {
        fprintf(stderr, "%s: bad --log-level %s\n", def->name, svc->cfg->log_level);
        exit_code = 2;
        goto out;
    }
    vc_log_init(def->name, lvl);
    if (vc__open_db(svc) != 0)
        goto out;
    if (svc->cfg->migrate) {
        exit_code = vc__migrate(svc);
        goto out;
    }
    rc = vc_auth_load_secret(svc->cfg->jwt_secret, svc->cfg->jwt_secret_file, &svc->jwt_key,
                             &svc->jwt_key_len);
    if (rc != 0 || vc_auth_new(svc->jwt_key, svc->jwt_key_len, &svc->auth) != 0) {
        vc_logf(VC_LOG_ERROR, "a JWT key of at least 32 bytes is required: set exactly one of "
                              "--jwt-secret / --jwt-secret-file (VC_JWT_SECRET / VC_JWT_SECRET_FILE)");
        exit_code = 2;
        goto out;
    }
    if (vc__check_schema(svc) != 0)
        goto out;
    if (vc_health_new(&svc->health) != 0 || !(svc->metrics = vc_metrics_new(def->name)))
        goto out;
    vc__register_pool_metrics(svc);
    vc__start_loop(svc);
    if (def->init && (rc = def->init(svc, &state)) != 0) {
        vc_logf(VC_LOG_ERROR, "service init failed: %s", vc_strerror(rc));
        goto out_loop;
    }
    if (vc__build_server(svc) != 0)
        goto out_loop;
    unsigned metrics_port = 0;
    if (svc->cfg->metrics_listen && *svc->cfg->metrics_listen &&
        vc_metrics_serve(svc->metrics, svc->cfg->metrics_listen, &metrics_port) != 0) {
        vc_logf(VC_LOG_ERROR, "cannot serve metrics on %s", svc->cfg->metrics_listen);
        goto out_loop;
    }
    int port = 0;
    if (vc_rpc_server_start(svc->server, &port) != 0)
        goto out_loop;
    vc_health_set_serving(svc->health, true);
    vc__start_timers(svc);
    if (vc__write_ready_file(svc, port, metrics_port) != 0)
        vc_logf(VC_LOG_WARN, "cannot write ready file %s", svc->cfg->ready_file);
    vc_log_fields(VC_LOG_INFO, "serving",
                  (vc_log_field[]){VC_LOG_I("grpc_port", port), VC_LOG_I("metrics_port", metrics_port),
                                   VC_LOG_S("db", svc->cfg->db_name)},
                  3);

    uv_run(&svc->loop, UV_RUN_DEFAULT);
    int cancelled = vc_rpc_server_drain(svc->server, (int)svc->cfg->drain_timeout_ms);
    vc_metrics_stop(svc->metrics);
    vc_log_fields(VC_LOG_INFO, "stopped", (vc_log_field[]){VC_LOG_I("cancelled_calls", cancelled)}, 1);
    exit_code = 0;

out_loop:
    if (!svc->stopping) { /* start-up failed after the loop existed: close its handles */
        svc->stopping = true;
        uv_close((uv_handle_t *)&svc->sigterm, NULL);
        uv_close((uv_handle_t *)&svc->sigint, NULL);
        uv_close((uv_handle_t *)&svc->health_timer, NULL);
        uv_run(&svc->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&svc->loop);
out:
    vc__teardown(svc, state);
    return exit_code;
}
