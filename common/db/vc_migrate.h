/*
 * vc_migrate.h - versioned SQL migrations embedded in the binary.
 *
 * Each service keeps its schema in <service>/migrations/NNN_name.sql. The build turns them into
 * a sorted table (cmake/embed_migrations.cmake):
 *
 *     extern const vc_migration reseller_migrations[];
 *     extern const size_t reseller_migrations_count;
 *
 * `--migrate` calls vc_migrate_apply(); normal start-up calls vc_migrate_check() and refuses to
 * run against a schema that is newer than the binary (or still missing migrations).
 *
 * Bookkeeping lives in the service's own database, table schema_migrations(version, name,
 * checksum, applied_at), one row per applied migration.
 *
 * File format. A migration holds one or more statements; a statement ends with a line whose last
 * non-blank character is ';'. Lines whose first non-blank characters are "--" are comments and
 * are skipped. Nothing else is parsed: a ';' at the end of a line inside a string literal would
 * end the statement there, and "DELIMITER" is not supported. The checksum covers the statements
 * as executed (comments and trailing blanks excluded), so editing a comment is allowed but
 * editing SQL of an applied migration is refused. It detects accidental edits, not tampering.
 *
 * Atomicity. MariaDB commits DDL implicitly, so a migration that fails halfway leaves the
 * statements before the failure applied and is not recorded: write statements so that a re-run
 * after the fix succeeds (CREATE TABLE IF NOT EXISTS, ADD COLUMN IF NOT EXISTS, ...).
 *
 * Thread-safety: any number of threads and processes may call these at once; application is
 * serialised by a server-side named lock (GET_LOCK) per database. Each call leases one
 * connection from the pool for its duration. The table m is borrowed for the call.
 */
#ifndef VC_MIGRATE_H
#define VC_MIGRATE_H

#include "db/vc_db.h"

#include <stddef.h>

typedef struct vc_migration {
    int version;      /* > 0, strictly increasing within a table */
    const char *name; /* informational, recorded in schema_migrations */
    const char *sql;  /* one or more statements, see above */
} vc_migration;

/* How long vc_migrate_apply waits for another migrator to finish before VC_ETIMEDOUT. */
#define VC_MIGRATE_LOCK_WAIT_S 120

/* Applies every migration of m[0..n) that the database lacks, in version order, recording each.
 * *applied (may be NULL) receives how many this call applied. Errors:
 *   VC_ESCHEMA_NEWER  the database has a version m does not know (nothing is applied)
 *   VC_EDB            an applied migration's checksum differs from m's, or a statement failed
 *                     (vc_migrate_errmsg has the text)
 *   VC_EINVAL         m is not sorted by increasing positive version, or no database selected
 *   VC_ETIMEDOUT      another process held the migration lock too long
 *   plus the errors of vc_db_lease. */
int vc_migrate_apply(vc_db_pool *pool, const vc_migration *m, size_t n, int *applied);

/* Compares the database with m[0..n) without changing anything. *db_version (may be NULL)
 * receives the highest applied version (0 for an empty database). Returns 0 when up to date,
 * VC_ESCHEMA_NEWER when the database has a version m lacks, VC_ESCHEMA_PENDING when a version of
 * m is not applied, VC_EDB on a checksum mismatch, or the errors of vc_db_lease. */
int vc_migrate_check(vc_db_pool *pool, const vc_migration *m, size_t n, int *db_version);

/* Copies the text of the calling thread's last vc_migrate failure into buf ("" if none). */
void vc_migrate_errmsg(char *buf, size_t cap);

/* Splits an SQL script the way migrations are read: a statement ends with ';' at the end of a
   line; lines starting with '--' are dropped. Calls cb(statement, length) for each, in order,
   with the statement NUL-terminated in a scratch buffer; stops at the first non-zero cb result
   and returns it. VC_ENOMEM. */
typedef int (*vc_sql_stmt_fn)(const char *stmt, size_t len, void *arg);
int vc_sql_split(const char *sql, vc_sql_stmt_fn cb, void *arg);

#endif
