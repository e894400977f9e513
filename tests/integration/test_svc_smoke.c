/* The harness itself: reseller-svc starts on a scratch database, answers health over gRPC,
   refuses a call without a token, and stops cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "harness.h"
#include "reseller/v1/quota_service.pb-c.h"

static void test_harness_round_trip(void **state)
{
    (void)state;
    th_svc s;
    th_start(&s, "VC_TEST_RESELLER_BIN", "smoke", NULL);
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    vc_rpc_result res;
    assert_int_equal(th_call(&s, NULL, "/grpc.health.v1.Health/Check", &req.base,
                             &grpc__health__v1__health_check_response__descriptor, &resp, &res),
                     VC_GRPC_OK);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)resp)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(resp, NULL);
    Reseller__V1__GetQuotaRequest q = RESELLER__V1__GET_QUOTA_REQUEST__INIT;
    assert_int_equal(th_call(&s, NULL, "/reseller.v1.QuotaService/GetQuota", &q.base,
                             &reseller__v1__get_quota_response__descriptor, NULL, &res),
                     VC_GRPC_UNAUTHENTICATED);
    th_assert_ledger_clean(&s);
    th_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_harness_round_trip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
