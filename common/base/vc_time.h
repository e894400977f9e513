/*
 * vc_time.h - time as int64 microseconds since the Unix epoch (UTC), the unit every table
 * uses, and conversions to google.protobuf.Timestamp.
 */
#ifndef VC_TIME_H
#define VC_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "base/vc_arena.h"
#include "google/protobuf/timestamp.pb-c.h"

#define VC_US_PER_SEC 1000000LL
#define VC_US_PER_DAY (86400LL * VC_US_PER_SEC)

/* Wall-clock now. */
int64_t vc_now_us(void);
/* A Timestamp allocated in the arena; NULL on ENOMEM. */
Google__Protobuf__Timestamp *vc_ts_new(vc_arena *a, int64_t us);
/* Microseconds of a Timestamp. false when it is out of the range we accept (years 1970..9999,
   nanos 0..999999999). NULL → false. */
bool vc_ts_to_us(const Google__Protobuf__Timestamp *ts, int64_t *us);

#endif
