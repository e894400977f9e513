/*
 * harness.h - integration tests against a real reseller-svc (or approval-svc) process on a real
 * MariaDB, over real gRPC.
 *
 * th_start() creates a scratch database (vc_test_<name>) on the CTest MariaDB fixture, runs the
 * service binary with --migrate, starts it on a free port with a fresh JWT key, and opens a
 * gRPC client and a DB pool (for invariant checks). th_stop() sends SIGTERM and asserts exit 0
 * (under ASan a leak makes it non-zero). Tokens for any role/tenant come from th_token().
 *
 * Environment (set by vc_svc_test in CMakeLists.txt): VC_TEST_DB_* and VC_TEST_RESELLER_BIN,
 * VC_TEST_APPROVAL_BIN.
 */
#ifndef TH_HARNESS_H
#define TH_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "auth/vc_auth.h"
#include "db/vc_db.h"
#include "rpc/vc_rpc_client.h"
#include "rpc/vc_rpc_status.h"

typedef struct th_svc {
    char name[64];   /* test name, database vc_test_<name> */
    char dbname[96];
    char dir[128];   /* temp dir: key file, ready file, log */
    char log[192];
    pid_t pid;
    int port;
    char target[64];
    vc_auth *auth;
    vc_rpc_client *cli;
    vc_db_pool *db;
    char key_hex[80]; /* its JWT key: start a peer with th_start_keyed to share it */
} th_svc;

/* Starts `binary_env` ("VC_TEST_RESELLER_BIN") for test `name` with extra flags (NULL-terminated
   list, may be NULL). Fails the test on error. */
void th_start(th_svc *s, const char *binary_env, const char *name, const char *const *extra);
/* Same, with a given JWT key (hex) so two services accept each other's service tokens. */
void th_start_keyed(th_svc *s, const char *binary_env, const char *name,
                    const char *const *extra, const char *key_hex);
/* A TCP port on 127.0.0.1 that was free a moment ago (for services that must know each other's
   address before starting). */
int th_free_port(void);
/* Starts a second process of the same binary on the same database as `primary` (a replica:
   no database reset, no migration), with extra flags. */
void th_start_replica(th_svc *replica, const th_svc *primary, const char *binary_env,
                      const char *const *extra);
/* kill -9: the process dies mid-flight (its database, client and files stay). */
void th_kill(th_svc *s);
/* Starts a killed service again on the same database with the same key (pass a fixed
   --listen in extra to keep the port). */
void th_relaunch(th_svc *s, const char *binary_env, const char *const *extra);
/* SIGTERM; asserts a clean exit 0. Frees everything. */
void th_stop(th_svc *s);
/* Mints a token; caller frees. reseller/customer may be NULL. finance only for customers. */
char *th_token(th_svc *s, vc_role role, const char *sub, const char *reseller,
               const char *customer, bool owner, bool finance);
/* One unary call; returns res->code. *resp (may be NULL to discard) is freed by the caller with
   protobuf_c_message_free_unpacked(resp, NULL). */
int th_call(th_svc *s, const char *token, const char *path, const ProtobufCMessage *req,
            const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
            vc_rpc_result *res);
/* Asserts the call failed with INVALID_ARGUMENT and named `field` among its violations. */
void th_expect_invalid(int code, const vc_rpc_result *res, const char *field);
/* Runs one statement on the service's database (setting up states the API cannot reach yet). */
void th_exec(th_svc *s, const char *sql, const vc_db_param *params, size_t n);
/* Asserts the ledger invariant checker finds nothing. */
void th_assert_ledger_clean(th_svc *s);
/* Runs a query returning one integer (for assertions on stored state). */
int64_t th_query_i64(th_svc *s, const char *sql);

#endif
