/* calendar.c - approval.v1.CalendarService and due times (being written). */
#include "approval/v1/calendar_service.pb-c.h"
#include "as.h"

static vc_rpc_service as_calendar_table = {
    .descriptor = &approval__v1__calendar_service__descriptor,
    .roles = VC_ROLE_STAFF,
};

const vc_rpc_service *as_calendar_service(as_app *app)
{
    as_calendar_table.data = app;
    return &as_calendar_table;
}

int as_due_time(vc_db_conn *c, int64_t submit_us, int days, int64_t *due_us)
{
    (void)c;
    *due_us = submit_us + (int64_t)days * VC_US_PER_DAY;
    return 0;
}
