#include "db/vc_check.h"

#include "db/vc_migrate.h"
#include "runtime/vc_log.h"

typedef struct vc__check {
    vc_db_conn *c;
    long violations;
} vc__check;

static int vc__check_stmt(const char *stmt, size_t len, void *arg)
{
    vc__check *k = arg;
    (void)len;
    vc_db_rows *rows;
    int rc = vc_db_query(k->c, stmt, VC_DB_NOARGS, &rows);
    if (rc < 0)
        return rc;
    while ((rc = vc_db_next(rows)) == 1) {
        const char *what = NULL;
        vc_db_get_str(rows, 0, &what, NULL);
        vc_logf(VC_LOG_ERROR, "invariant violated: %s", what ? what : "?");
        k->violations++;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

int vc_check_script(vc_db_conn *c, const char *script, long *violations)
{
    vc__check k = {.c = c};
    int rc = vc_sql_split(script, vc__check_stmt, &k);
    *violations = k.violations;
    return rc;
}
