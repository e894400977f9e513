/*
 * vc_svc.h - the process runtime both services share: configuration, logging, database pool and
 * schema check, metrics endpoint, gRPC server with health and reflection, background jobs on a
 * libuv loop, and graceful shutdown. A service's main() is a vc_svc_def and one call:
 *
 *     int main(int argc, char **argv) { return vc_svc_main(&reseller_def, argc, argv); }
 *
 * Threads: the main thread runs the libuv loop (signals, timers); RPC workers run handlers
 * (vc_rpc_server); background jobs and the database probe run on the libuv threadpool.
 *
 * Start-up: parse flags/env (--help prints them) → open the DB pool → with --migrate apply the
 * embedded migrations and exit; otherwise wait for the database (up to --db-wait-ms), refuse to
 * start unless the schema is exactly the one this binary knows → def->init registers services →
 * serve. SIGTERM/SIGINT: health turns NOT_SERVING, the server stops accepting, open streams end,
 * in-flight calls finish (up to --drain-timeout-ms), jobs finish, everything is freed, exit 0.
 */
#ifndef VC_SVC_H
#define VC_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "auth/vc_auth.h"
#include "db/vc_db.h"
#include "db/vc_migrate.h"
#include "rpc/vc_rpc_server.h"
#include "runtime/vc_config.h"
#include "runtime/vc_metrics.h"

typedef struct vc_svc vc_svc;

/* Options every service has. A service's own config struct starts with this (first member), so
   one table covers both; see vc_svc_def.options. */
typedef struct vc_svc_config {
    char *listen;
    char *metrics_listen;
    char *db_host;
    int64_t db_port;
    char *db_socket;
    char *db_user;
    char *db_password;
    char *db_password_file;
    char *db_name;
    int64_t db_pool_size;
    int64_t db_wait_ms;
    char *jwt_secret;
    char *jwt_secret_file;
    int64_t workers;
    int64_t drain_timeout_ms;
    int64_t lame_duck_ms;
    int64_t health_interval_ms;
    char *log_level;
    char *ready_file;
    bool migrate;
} vc_svc_config;

typedef struct vc_svc_def {
    const char *name;    /* "reseller-svc": logs, metrics, --help */
    const char *summary; /* one line for --help */
    const char *default_listen;
    const char *default_metrics_listen;
    const char *default_db_name;
    const unsigned char *descriptor_set; /* embedded FileDescriptorSet for reflection */
    const size_t *descriptor_set_len;
    const vc_migration *migrations;
    const size_t *n_migrations;
    /* Service-specific options, with offsets into a struct whose first member is
       vc_svc_config; cfg_size is that struct's size (>= sizeof(vc_svc_config)). */
    const vc_option *options;
    size_t n_options;
    size_t cfg_size;
    /* Registers the service tables (vc_svc_add_service) and jobs. 0 or a VC_E* code. *state is
       handed to fini after the server stopped. */
    int (*init)(vc_svc *svc, void **state);
    void (*fini)(void *state);
} vc_svc_def;

/* Runs the service; returns the process exit code (0 after a clean shutdown, 2 on bad flags). */
int vc_svc_main(const vc_svc_def *def, int argc, char **argv);

/* ---- for init ------------------------------------------------------------------------------- */

/* The parsed configuration (the service's own struct; first member vc_svc_config). */
const void *vc_svc_config_of(const vc_svc *svc);
vc_db_pool *vc_svc_db(vc_svc *svc);
const vc_auth *vc_svc_auth(vc_svc *svc);
vc_metrics *vc_svc_metrics(vc_svc *svc);
uv_loop_t *vc_svc_loop(vc_svc *svc);
/* Registers a service table (borrowed: must live until fini). */
int vc_svc_add_service(vc_svc *svc, const vc_rpc_service *table);

/* A background job: `work` runs on the libuv threadpool every `interval_ms` (never two runs of
   the same job at once; a run that overruns delays the next). Jobs stop at shutdown after their
   current run. `arg` is borrowed. */
typedef void (*vc_svc_job_fn)(void *arg);
int vc_svc_add_job(vc_svc *svc, const char *name, uint64_t interval_ms, vc_svc_job_fn work,
                   void *arg);

#endif
