/*
 * vc_config.h - table-driven configuration from defaults, environment and command-line flags.
 *
 * A program describes its settings once, as an array of vc_option pointing into its own config
 * struct, and gets parsing, validation and --help from that table:
 *
 *   typedef struct my_cfg { char *db_socket; int64_t workers; bool tls; } my_cfg;
 *   static const vc_option my_opts[] = {
 *       {"db-socket", VC_OPT_STRING, offsetof(my_cfg, db_socket), "/run/mysqld/mysqld.sock",
 *        "MariaDB unix socket"},
 *       {"workers", VC_OPT_INT, offsetof(my_cfg, workers), "4", "RPC worker threads", 1, 64},
 *       {"tls", VC_OPT_BOOL, offsetof(my_cfg, tls), "false", "serve TLS"},
 *   };
 *   my_cfg cfg = {0};
 *   int rc = vc_config_parse(my_opts, 3, &cfg, argc, argv, "VC_", "reseller-svc", "...");
 *   if (rc != 0) exit(rc == 1 ? 0 : 2);
 *   ...
 *   vc_config_free(my_opts, 3, &cfg);
 *
 * Precedence, lowest first: the table's default, the environment variable (env_prefix + the
 * name in upper case with '-' turned into '_', e.g. VC_DB_SOCKET), the flag. Flags are
 * --name=value or --name value; booleans are --name / --no-name or --name=true|false. Boolean
 * values (defaults, environment, --name=) accept 1/0, true/false, yes/no, on/off, any case.
 * Positional arguments are refused ("--" included), as are unknown flags.
 *
 * Thread-safety: parsing keeps no global state (no getopt) and may be called any number of
 * times, but it reads the environment, so do not run it concurrently with setenv().
 */
#ifndef VC_CONFIG_H
#define VC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vc_opt_type { VC_OPT_STRING, VC_OPT_INT, VC_OPT_BOOL } vc_opt_type;

typedef struct vc_option {
    const char *name; /* long flag without "--", e.g. "db-socket"; env = prefix + DB_SOCKET */
    vc_opt_type type;
    size_t offset; /* offsetof(cfg, field): char* for STRING, int64_t for INT, bool for BOOL */
    const char *default_value; /* NULL = unset (a string stays NULL, an int 0, a bool false) */
    const char *help;
    int64_t min, max; /* INT bounds, inclusive; both 0 = unbounded */
} vc_option;

/* Fills cfg from the table's defaults, then the environment, then argv (argv[0] is skipped).
 * env_prefix may be NULL to ignore the environment. program and summary head the usage text.
 *
 * Returns 0 on success; 1 if -h/--help was given (usage printed to stdout, nothing else is
 * validated); VC_EINVAL on an unknown flag, a positional argument, a bad or out-of-range
 * number, a bad boolean, a missing value or an invalid default in the table (each prints one
 * line to stderr naming the flag and its environment variable); VC_ENOMEM.
 *
 * Ownership: string fields receive heap copies owned by cfg; release them with
 * vc_config_free(). Previous values in cfg are overwritten, not freed. On any non-zero return
 * the strings are already freed and set to NULL (calling vc_config_free() is still harmless). */
int vc_config_parse(const vc_option *opts, size_t n, void *cfg, int argc, char **argv,
                    const char *env_prefix, const char *program, const char *summary);

/* Frees the string fields of cfg and sets them to NULL. Safe on a zeroed cfg. */
void vc_config_free(const vc_option *opts, size_t n, void *cfg);

/* Prints the usage text that --help shows to stdout. */
void vc_config_usage(const vc_option *opts, size_t n, const char *env_prefix, const char *program,
                     const char *summary);

#endif
