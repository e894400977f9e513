#include "base/vc_time.h"

#include <time.h>

int64_t vc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * VC_US_PER_SEC + ts.tv_nsec / 1000;
}

Google__Protobuf__Timestamp *vc_ts_new(vc_arena *a, int64_t us)
{
    Google__Protobuf__Timestamp *ts = vc_arena_alloc(a, sizeof(*ts));
    if (!ts)
        return NULL;
    google__protobuf__timestamp__init(ts);
    int64_t sec = us / VC_US_PER_SEC, rem = us % VC_US_PER_SEC;
    if (rem < 0) {
        rem += VC_US_PER_SEC;
        sec--;
    }
    ts->seconds = sec;
    ts->nanos = (int32_t)(rem * 1000);
    return ts;
}

bool vc_ts_to_us(const Google__Protobuf__Timestamp *ts, int64_t *us)
{
    /* 253402300799 = 9999-12-31T23:59:59Z */
    if (!ts || ts->seconds < 0 || ts->seconds > 253402300799LL || ts->nanos < 0 ||
        ts->nanos > 999999999)
        return false;
    *us = ts->seconds * VC_US_PER_SEC + ts->nanos / 1000;
    return true;
}
