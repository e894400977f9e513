/*
 * vc_check.h - invariant scripts: SQL files whose every query returns one row per violation
 * (first column: a description), so that "no rows from any query" means "consistent". Used for
 * the ledger (common/ledger/ledger_invariants.sql) and each service's own cross-checks
 * (<svc>/invariants.sql), by tests and by scripts/check-invariants.
 */
#ifndef VC_CHECK_H
#define VC_CHECK_H

#include "db/vc_db.h"

/* Runs every statement of `script` (split like migrations) and counts the rows they return
   into *violations, logging each description at error level. 0 or a VC_E* from the database. */
int vc_check_script(vc_db_conn *c, const char *script, long *violations);

#endif
