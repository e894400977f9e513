/*
 * The generic RPC adapter over real gRPC sockets on 127.0.0.1: unary, server streaming, bidi,
 * auth and roles, field violations, deadlines, UNIMPLEMENTED, and graceful drain.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>

#include "auth/vc_auth.h"
#include "rpc/vc_rpc_client.h"
#include "rpc/vc_rpc_server.h"
#include "vctest/v1/test.pb-c.h"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef-test-key";

typedef struct fixture {
    vc_auth *auth;
    vc_rpc_server *srv;
    int port;
    char target[64];
    vc_rpc_client *cli;
    char *reseller_token, *staff_token;
} fixture;

/* ---- the test service ------------------------------------------------------------------------ */

static int echo(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Vctest__V1__EchoRequest *req = req_;
    Vctest__V1__EchoResponse *resp = resp_;
    if (!req->text || !*req->text)
        return vc_rpc_invalid(ctx, "text", "must not be empty");
    if (req->fail_code)
        return vc_rpc_error(ctx, req->fail_code, "failing as asked");
    if (req->delay_ms)
        usleep((useconds_t)req->delay_ms * 1000);
    resp->text = vc_arena_strdup(vc_rpc_arena(ctx), req->text);
    resp->caller = vc_arena_strdup(vc_rpc_arena(ctx), vc_rpc_caller(ctx)->subject);
    return VC_GRPC_OK;
}

static int echo_stream(vc_rpc_ctx *ctx, const void *req_)
{
    const Vctest__V1__EchoRequest *req = req_;
    for (int i = 0; i < req->count; i++) {
        Vctest__V1__EchoResponse r = VCTEST__V1__ECHO_RESPONSE__INIT;
        r.text = req->text;
        r.seq = i;
        vc_rpc_stream_send(ctx, &r.base);
    }
    return VC_GRPC_OK;
}

static int echo_chat(vc_rpc_ctx *ctx, const void *req_)
{
    const Vctest__V1__EchoRequest *req = req_;
    Vctest__V1__EchoResponse r = VCTEST__V1__ECHO_RESPONSE__INIT;
    r.text = req->text;
    vc_rpc_stream_send(ctx, &r.base);
    return VC_RPC_PENDING;
}

static const vc_rpc_method methods[] = {
    {.name = "Echo", .unary = echo},
    {.name = "EchoStream", .server_stream = echo_stream},
    {.name = "EchoChat", .bidi = echo_chat, .roles = VC_ROLE_STAFF},
};

static const vc_rpc_service echo_service = {
    .descriptor = &vctest__v1__echo_service__descriptor,
    .methods = methods,
    .n_methods = 3,
    .roles = VC_ROLE_RESELLER | VC_ROLE_STAFF,
};

static char *mint(vc_auth *a, vc_role role, const char *sub)
{
    vc_caller c = {.role = role};
    snprintf(c.subject, sizeof(c.subject), "%s", sub);
    snprintf(c.reseller_id, sizeof(c.reseller_id), "r-1");
    char *tok = NULL;
    assert_int_equal(vc_auth_mint(a, &c, 600, &tok), 0);
    return tok;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(vc_auth_new(key, sizeof(key) - 1, &f->auth), 0);
    vc_rpc_server_opts o = {.listen = "127.0.0.1:0", .service_name = "test", .workers = 4,
                            .auth = f->auth};
    assert_int_equal(vc_rpc_server_new(&o, &f->srv), 0);
    assert_int_equal(vc_rpc_server_add_service(f->srv, &echo_service), 0);
    assert_int_equal(vc_rpc_server_start(f->srv, &f->port), 0);
    assert_true(f->port > 0);
    snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", f->port);
    assert_int_equal(vc_rpc_client_new(f->target, &f->cli), 0);
    f->reseller_token = mint(f->auth, VC_ROLE_RESELLER, "alice");
    f->staff_token = mint(f->auth, VC_ROLE_STAFF, "sam");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vc_rpc_client_free(f->cli);
    vc_rpc_server_free(f->srv);
    vc_auth_free(f->auth);
    free(f->reseller_token);
    free(f->staff_token);
    free(f);
    return 0;
}

static int call_echo(fixture *f, const char *token, const char *text, int delay_ms, int fail,
                     int timeout_ms, vc_rpc_result *res, char *out_text, size_t cap)
{
    Vctest__V1__EchoRequest req = VCTEST__V1__ECHO_REQUEST__INIT;
    req.text = (char *)text;
    req.delay_ms = delay_ms;
    req.fail_code = fail;
    ProtobufCMessage *resp = NULL;
    vc_rpc_call_opts o = {.bearer = token, .timeout_ms = timeout_ms};
    int rc = vc_rpc_client_unary(f->cli, "/vctest.v1.EchoService/Echo", &req.base,
                                 &vctest__v1__echo_response__descriptor, NULL, &resp, &o, res);
    if (resp) {
        Vctest__V1__EchoResponse *r = (Vctest__V1__EchoResponse *)resp;
        if (out_text)
            snprintf(out_text, cap, "%s|%s", r->text, r->caller);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return rc;
}

static void test_unary_ok(void **state)
{
    fixture *f = *state;
    vc_rpc_result res;
    char out[128] = "";
    assert_int_equal(call_echo(f, f->reseller_token, "hello", 0, 0, 5000, &res, out, sizeof(out)), 0);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_string_equal(out, "hello|alice");
}

static void test_auth(void **state)
{
    fixture *f = *state;
    vc_rpc_result res;
    call_echo(f, NULL, "x", 0, 0, 5000, &res, NULL, 0);
    assert_int_equal(res.code, VC_GRPC_UNAUTHENTICATED);
    call_echo(f, "not-a-jwt", "x", 0, 0, 5000, &res, NULL, 0);
    assert_int_equal(res.code, VC_GRPC_UNAUTHENTICATED);
    char *billing = mint(f->auth, VC_ROLE_BILLING, "bill");
    call_echo(f, billing, "x", 0, 0, 5000, &res, NULL, 0);
    assert_int_equal(res.code, VC_GRPC_PERMISSION_DENIED);
    free(billing);
    /* A token signed with another key is rejected. */
    vc_auth *other;
    const unsigned char k2[] = "another-key-another-key-another-key!!";
    assert_int_equal(vc_auth_new(k2, sizeof(k2) - 1, &other), 0);
    char *forged = mint(other, VC_ROLE_RESELLER, "mallory");
    call_echo(f, forged, "x", 0, 0, 5000, &res, NULL, 0);
    assert_int_equal(res.code, VC_GRPC_UNAUTHENTICATED);
    free(forged);
    vc_auth_free(other);
}

static void test_invalid_argument_names_field(void **state)
{
    fixture *f = *state;
    vc_rpc_result res;
    call_echo(f, f->reseller_token, "", 0, 0, 5000, &res, NULL, 0);
    assert_int_equal(res.code, VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "text");
    assert_non_null(strstr(res.message, "text"));
    call_echo(f, f->reseller_token, "x", 0, VC_GRPC_FAILED_PRECONDITION, 5000, &res, NULL, 0);
    assert_int_equal(res.code, VC_GRPC_FAILED_PRECONDITION);
    assert_string_equal(res.message, "failing as asked");
}

static void test_unimplemented(void **state)
{
    fixture *f = *state;
    Vctest__V1__EchoRequest req = VCTEST__V1__ECHO_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    vc_rpc_result res;
    vc_rpc_call_opts o = {.bearer = f->reseller_token};
    vc_rpc_client_unary(f->cli, "/vctest.v1.EchoService/NotImplemented", &req.base,
                        &vctest__v1__echo_response__descriptor, NULL, &resp, &o, &res);
    assert_int_equal(res.code, VC_GRPC_UNIMPLEMENTED);
    assert_null(resp);
}

static void test_deadline(void **state)
{
    fixture *f = *state;
    vc_rpc_result res;
    call_echo(f, f->reseller_token, "slow", 600, 0, 100, &res, NULL, 0);
    assert_int_equal(res.code, VC_GRPC_DEADLINE_EXCEEDED);
}

/* Raw streaming client: sends `n_req` requests, half-closes, collects replies. */
static int stream_call(fixture *f, const char *path, const char *token, int n_req, int count,
                       int *n_replies, int *status)
{
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(f->target, cr, NULL);
    grpc_channel_credentials_release(cr);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(5000, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(ch, NULL, 0, cq,
                                               grpc_slice_from_static_string(path), NULL, dl, NULL);
    char authz[1024];
    snprintf(authz, sizeof(authz), "Bearer %s", token);
    grpc_metadata md = {.key = grpc_slice_from_static_string("authorization"),
                        .value = grpc_slice_from_static_string(authz)};
    grpc_op op[2];
    for (int i = 0; i < n_req; i++) {
        Vctest__V1__EchoRequest req = VCTEST__V1__ECHO_REQUEST__INIT;
        char text[16];
        snprintf(text, sizeof(text), "m%d", i);
        req.text = text;
        req.count = count;
        size_t len = protobuf_c_message_get_packed_size(&req.base);
        grpc_slice s = grpc_slice_malloc(len);
        protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(s));
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        /* The initial metadata travels with the first message. */
        memset(op, 0, sizeof(op));
        size_t n = 0;
        if (i == 0) {
            op[n].op = GRPC_OP_SEND_INITIAL_METADATA;
            op[n].data.send_initial_metadata.count = 1;
            op[n++].data.send_initial_metadata.metadata = &md;
        }
        op[n].op = GRPC_OP_SEND_MESSAGE;
        op[n++].data.send_message.send_message = bb;
        int t1;
        assert_int_equal(grpc_call_start_batch(call, op, n, &t1, NULL), GRPC_CALL_OK);
        grpc_completion_queue_pluck(cq, &t1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_byte_buffer_destroy(bb);
    }
    memset(op, 0, sizeof(op));
    op[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    int t2;
    grpc_call_start_batch(call, op, 1, &t2, NULL);
    grpc_completion_queue_pluck(cq, &t2, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    *n_replies = 0;
    grpc_metadata_array initial;
    grpc_metadata_array_init(&initial);
    for (bool first = true;; first = false) {
        grpc_byte_buffer *in = NULL;
        memset(op, 0, sizeof(op));
        size_t n = 0;
        if (first) {
            op[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            op[n++].data.recv_initial_metadata.recv_initial_metadata = &initial;
        }
        op[n].op = GRPC_OP_RECV_MESSAGE;
        op[n++].data.recv_message.recv_message = &in;
        int t3;
        assert_int_equal(grpc_call_start_batch(call, op, n, &t3, NULL), GRPC_CALL_OK);
        grpc_completion_queue_pluck(cq, &t3, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (!in)
            break;
        (*n_replies)++;
        grpc_byte_buffer_destroy(in);
    }
    grpc_metadata_array trailing;
    grpc_metadata_array_init(&trailing);
    grpc_status_code st;
    grpc_slice details;
    memset(op, 0, sizeof(op));
    op[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op[0].data.recv_status_on_client.trailing_metadata = &trailing;
    op[0].data.recv_status_on_client.status = &st;
    op[0].data.recv_status_on_client.status_details = &details;
    int t4;
    grpc_call_start_batch(call, op, 1, &t4, NULL);
    grpc_completion_queue_pluck(cq, &t4, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    *status = (int)st;
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&trailing);
    grpc_metadata_array_destroy(&initial);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    return 0;
}

static void test_server_stream(void **state)
{
    fixture *f = *state;
    int n = 0, st = -1;
    stream_call(f, "/vctest.v1.EchoService/EchoStream", f->reseller_token, 1, 5, &n, &st);
    assert_int_equal(st, VC_GRPC_OK);
    assert_int_equal(n, 5);
}

static void test_bidi_and_method_roles(void **state)
{
    fixture *f = *state;
    int n = 0, st = -1;
    stream_call(f, "/vctest.v1.EchoService/EchoChat", f->staff_token, 3, 0, &n, &st);
    assert_int_equal(st, VC_GRPC_OK);
    assert_int_equal(n, 3);
    /* EchoChat is staff-only even though the service also admits resellers. */
    stream_call(f, "/vctest.v1.EchoService/EchoChat", f->reseller_token, 1, 0, &n, &st);
    assert_int_equal(st, VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(n, 0);
}

/* ---- drain ---------------------------------------------------------------------------------- */

typedef struct burst_arg {
    fixture *f;
    int delay_ms;
    int code;
} burst_arg;

static void *burst_call(void *p)
{
    burst_arg *a = p;
    vc_rpc_result res;
    call_echo(a->f, a->f->reseller_token, "drain", a->delay_ms, 0, 10000, &res, NULL, 0);
    a->code = res.code;
    return NULL;
}

static void test_drain_completes_in_flight_calls(void **state)
{
    fixture *f = *state;
    enum { N = 4 }; /* = workers: all of them are in flight when shutdown starts */
    pthread_t th[N];
    burst_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (burst_arg){.f = f, .delay_ms = 400, .code = -1};
        pthread_create(&th[i], NULL, burst_call, &args[i]);
    }
    usleep(150 * 1000);
    vc_rpc_server_shutdown(f->srv);
    assert_int_equal(vc_rpc_server_drain(f->srv, 5000), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].code, VC_GRPC_OK);
    }
    /* New calls after shutdown are refused. */
    vc_rpc_result res;
    call_echo(f, f->reseller_token, "late", 0, 0, 1000, &res, NULL, 0);
    assert_int_not_equal(res.code, VC_GRPC_OK);
}

static void test_drain_timeout_cancels(void **state)
{
    fixture *f = *state;
    pthread_t th;
    burst_arg a = {.f = f, .delay_ms = 1500, .code = -1};
    pthread_create(&th, NULL, burst_call, &a);
    usleep(150 * 1000);
    vc_rpc_server_shutdown(f->srv);
    assert_true(vc_rpc_server_drain(f->srv, 100) >= 1);
    pthread_join(th, NULL);
    assert_int_not_equal(a.code, VC_GRPC_OK);
}

/* The client retries UNAVAILABLE with backoff until the server appears (within the deadline). */
typedef struct late_server {
    vc_auth *auth;
    int port;
    vc_rpc_server *srv;
} late_server;

static void *start_late(void *p)
{
    late_server *ls = p;
    usleep(300 * 1000);
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", ls->port);
    vc_rpc_server_opts o = {.listen = listen, .workers = 2, .auth = ls->auth};
    assert_int_equal(vc_rpc_server_new(&o, &ls->srv), 0);
    assert_int_equal(vc_rpc_server_add_service(ls->srv, &echo_service), 0);
    int port = 0;
    assert_int_equal(vc_rpc_server_start(ls->srv, &port), 0);
    assert_int_equal(port, ls->port);
    return NULL;
}

static void test_client_retries_unavailable(void **state)
{
    fixture *f = *state;
    /* A port nobody listens on: take a free one from the kernel and release it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    late_server ls = {.auth = f->auth, .port = ntohs(a.sin_port)};
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", ls.port);
    vc_rpc_client *cli;
    assert_int_equal(vc_rpc_client_new(target, &cli), 0);

    /* Without retries the call fails at once with UNAVAILABLE. */
    Vctest__V1__EchoRequest req = VCTEST__V1__ECHO_REQUEST__INIT;
    req.text = "again";
    ProtobufCMessage *resp = NULL;
    vc_rpc_result res;
    vc_rpc_call_opts once = {.bearer = f->reseller_token, .timeout_ms = 2000, .max_attempts = 1};
    vc_rpc_client_unary(cli, "/vctest.v1.EchoService/Echo", &req.base,
                        &vctest__v1__echo_response__descriptor, NULL, &resp, &once, &res);
    assert_int_equal(res.code, VC_GRPC_UNAVAILABLE);
    assert_int_equal(res.attempts, 1);

    pthread_t th;
    pthread_create(&th, NULL, start_late, &ls);
    vc_rpc_call_opts retry = {.bearer = f->reseller_token, .timeout_ms = 8000, .max_attempts = 50};
    vc_rpc_client_unary(cli, "/vctest.v1.EchoService/Echo", &req.base,
                        &vctest__v1__echo_response__descriptor, NULL, &resp, &retry, &res);
    pthread_join(th, NULL);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_true(res.attempts > 1);
    assert_non_null(resp);
    assert_string_equal(((Vctest__V1__EchoResponse *)resp)->text, "again");
    protobuf_c_message_free_unpacked(resp, NULL);
    vc_rpc_client_free(cli);
    vc_rpc_server_free(ls.srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unary_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_argument_names_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unimplemented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bidi_and_method_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_completes_in_flight_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_timeout_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_retries_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
