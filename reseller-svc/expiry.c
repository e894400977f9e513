/* expiry.c - the expiry sweep (not built yet). */
#include "rs.h"

void rs_expiry_job(void *app)
{
    (void)app;
}
