/*
 * ctl_common.h - what the platform's command-line clients (resellerctl, approvalctl) share:
 * command tables and flag parsing, --help, calling the server with retries, money/time/enum
 * conversion, aligned tables and paged lists, JSON output.
 *
 * A tool describes itself in a ctl_prog (its name, the service it talks to, where the address
 * and token come from, its commands and global flags) and hands main() to ctl_main(). Each
 * command is a ctl_cmd: its flags, how many positional arguments it takes, and a run function
 * that builds one request from the flags, calls the server with ctl_call() and prints the
 * response (a table, "key  value" lines, or with --json the message in the proto3 JSON mapping).
 *
 * Conventions every tool follows, so that they behave alike:
 *   - `tool --help` lists the commands one line each; `tool <command> --help` shows the flags.
 *     Global flags may come before or after the command; `--name=value` and `--name value`.
 *   - Only what must be parsed is checked here (amounts, times, enum names, numbers, flags that
 *     exclude each other); business rules are the server's, whose INVALID_ARGUMENT names the
 *     offending field.
 *   - Exit status (what run functions return): 0 success; CTL_FAIL (1) the server answered an
 *     error (printed as "<tool>: <CODE>: <message> (fields: ...)" on stderr) or the call failed;
 *     CTL_USAGE (2) a usage error, printed with a hint to --help.
 *   - Money arguments are decimal major units ("1000.00") in the currency c->currency; tables
 *     show money as "1,000.00 CNY", times as RFC 3339 UTC to the second, enum values without
 *     their type prefix ("PENDING_REVIEW"), "-" for what is unset.
 *
 * Memory: one arena per run (c->a) owns every request, response and formatted string; the
 * helpers below that return text or memory return arena memory and never fail (out of memory
 * prints a message and exits with CTL_FAIL). ctl_main frees the arena at the end.
 *
 * Thread-safety: none needed; a tool is one thread. ctl_main is called once per process.
 */
#ifndef CTL_COMMON_H
#define CTL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "base/vc_arena.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "rpc/vc_rpc_client.h"

#define CTL_FAIL    1
#define CTL_USAGE   2
#define CTL_MAX_POS 4
#define CTL_CLIP    40 /* display columns of free-text ('t') table cells */

typedef struct ctl ctl;

/* A command-line flag: "--name ARG" (arg = metavar) or a switch "--name" (arg = NULL). Tables of
   flags end with {0}. */
typedef struct ctl_flag {
    const char *name;
    const char *arg;
    const char *help;
} ctl_flag;

typedef struct ctl_cmd {
    const char *name;      /* "quota", or "templates create" for a group's subcommand */
    const char *synopsis;  /* what follows the name in the usage line */
    const char *summary;   /* one line for --help */
    const ctl_flag *flags; /* NULL = none */
    int min_pos, max_pos;  /* positional arguments, at most CTL_MAX_POS */
    int (*run)(ctl *c);    /* returns the exit status */
} ctl_cmd;

typedef struct ctl_prog {
    const char *name;         /* "resellerctl": message prefix and usage lines */
    const char *service;      /* "reseller-svc": named when it cannot be reached */
    const char *addr_env;     /* "RESELLER_ADDR" */
    const char *default_addr; /* "127.0.0.1:50051" */
    const char *token_env;    /* "TOKEN_RESELLER" */
    const char *usage;        /* global part of the usage line: "[--addr HOST:PORT] ..." */
    const ctl_cmd *commands;
    size_t ncommands;
    /* The global flags the tool offers, with their help text. Known names: addr, token, json,
       currency, timeout-ms (any other is a programming error). */
    const ctl_flag *globals;
    /* Sets c->currency when a money flag is parsed and --currency was not given (e.g. asks the
       server); returns 0 or an exit status. NULL: --currency is then required. */
    int (*need_currency)(ctl *c);
} ctl_prog;

/* The state of one run. Run functions read it; the helpers below keep it. */
struct ctl {
    const ctl_prog *prog;
    vc_arena *a;
    ProtobufCAllocator *alloc; /* responses unpack into the arena */
    vc_rpc_client *cli;
    const char *addr, *token, *currency_flag;
    int64_t timeout_ms;
    bool json, help, dashdash;
    char currency[4]; /* "" until known (--currency or prog->need_currency) */
    const ctl_cmd *cmd;
    const char *group; /* "templates" when only the group was named */
    const char **val;  /* per cmd->flags entry: the value, "" for a switch, NULL if absent */
    const char *pos[CTL_MAX_POS];
    int npos;
};

/* Parses argv, prints help or runs the command; returns the exit status for main(). */
int ctl_main(const ctl_prog *prog, int argc, char **argv);

/* ---- memory and messages ------------------------------------------------------------------ */

/* Prints "<tool>: out of memory" and exits with CTL_FAIL. */
_Noreturn void ctl_oom(ctl *c);
/* n zeroed bytes of arena memory. */
void *ctl_alloc(ctl *c, size_t n);
/* printf into arena memory. */
char *ctl_printf(ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "<tool>: <message>" and a hint to --help on stderr; returns CTL_USAGE. */
int ctl_usage_error(ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- flags of the running command --------------------------------------------------------- */

/* The value of flag `name` ("" for a given switch), NULL when not given. Asking for a flag the
   command does not declare is a programming error (abort), caught by any test of the path. */
const char *ctl_opt(const ctl *c, const char *name);
/* Like ctl_opt for a flag only some commands declare: NULL when this one does not. */
const char *ctl_opt_if_declared(const ctl *c, const char *name);
bool ctl_has(const ctl *c, const char *name);
const char *ctl_opt_or(const ctl *c, const char *name, const char *dflt);
/* Parses --name as an integer in lo..hi into *out (untouched when the flag is absent). 0 or
   CTL_USAGE (already reported). The same holds for every *_arg function below. */
int ctl_int_arg(ctl *c, const char *name, int64_t lo, int64_t hi, int64_t *out);
int ctl_int32_arg(ctl *c, const char *name, int32_t *out);
/* Splits "a,b,c" into arena strings; empty items are dropped. */
char **ctl_split(ctl *c, const char *s, size_t *n);
char *ctl_join(ctl *c, char *const *v, size_t n, const char *sep);

/* ---- enums -------------------------------------------------------------------------------- */

/* "PENDING_REVIEW" for VOUCHER_STATUS_PENDING_REVIEW; "-" for the zero value. */
const char *ctl_enum_name(ctl *c, const ProtobufCEnumDescriptor *d, int v);
/* Case-insensitive, '-' = '_': the short name ("pending_review"), the full name, or a unique
   prefix of the short name ("provider" for PROVIDER_FUNDED). Never the zero value. 0 or
   VC_EINVAL. */
int ctl_enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out);
/* The accepted short names of d, lower-case, comma-separated, for error messages. */
char *ctl_enum_choices(ctl *c, const ProtobufCEnumDescriptor *d);
/* --name as one value of d into *out (untouched when absent). */
int ctl_enum_arg(ctl *c, const char *name, const ProtobufCEnumDescriptor *d, int *out);
/* --name as a comma-separated list of values of d: *arr becomes an array of int (the size of
   every protobuf-c enum) for the request's repeated enum field; untouched when absent. */
int ctl_enum_list_arg(ctl *c, const char *name, const ProtobufCEnumDescriptor *d, void **arr,
                      size_t *n);

/* ---- money and time ----------------------------------------------------------------------- */

/* "1,234,567.89 CNY": vc_money_format's text with thousands grouped. */
const char *ctl_money(ctl *c, int64_t minor, const char *cur);
/* Ledger style, the sign both ways: "+100.00 CNY", "-100.00 CNY". */
const char *ctl_signed_money(ctl *c, int64_t minor, const char *cur);
/* Money flag --name ("1000.00", major units) in c->currency, learned first through
   prog->need_currency when unknown. */
int ctl_money_arg(ctl *c, const char *name, int64_t *out);
/* RFC 3339 UTC to the second; "-" when t is NULL. */
const char *ctl_ts(ctl *c, const Google__Protobuf__Timestamp *t);
/* --name as an RFC 3339 time (or a bare date, midnight UTC) into a new arena Timestamp. */
int ctl_ts_arg(ctl *c, const char *name, Google__Protobuf__Timestamp **out);

/* ---- calling the server ------------------------------------------------------------------- */

/* Calls path with req. On success *resp (the address of a response message pointer) holds the
   arena-owned reply and 0 is returned; otherwise the error is printed and CTL_FAIL returned.
   `retry`: the method is safe to repeat (reads, request_id mutations), so UNAVAILABLE is
   retried within --timeout-ms. request_id (may be NULL) goes out as x-request-id. */
int ctl_call(ctl *c, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, void *resp, bool retry,
             const char *request_id);
/* Prints m as indented proto3 JSON on stdout; 0 or CTL_FAIL. */
int ctl_print_json(ctl *c, const ProtobufCMessage *m);
/* --request-id, or a fresh UUID announced on stderr so that the user can retry with it. */
const char *ctl_request_id(ctl *c);

/* ---- output ------------------------------------------------------------------------------- */

/* An aligned table built row by row; cells are copied into the arena. */
typedef struct ctl_table {
    ctl *c;
    size_t ncols;
    const char *align; /* per column: 'l' left, 'r' right, 't' left and clipped free text */
    const char **cells;
    size_t n, cap; /* cells used / allocated; row r is cells[r * ncols ...] */
} ctl_table;

/* One column per character of align; the first row added is the header. */
void ctl_table_init(ctl_table *t, ctl *c, const char *align);
/* Appends one row of t->ncols `const char *` (NULL or "" shows "-"). Control characters in
   cells become spaces. */
void ctl_table_row(ctl_table *t, ...);
/* Prints the table on stdout, or the header and "(none)" when it has no rows. */
void ctl_table_print(const ctl_table *t);
/* One "key  value" line of a detail view; NULL or "" shows "-"; the lines of a multi-line value
   are indented to the value column. */
void ctl_kv(const char *key, const char *value);

/* ---- paged lists -------------------------------------------------------------------------- */

typedef void (*ctl_row_fn)(ctl *c, ctl_table *t, const ProtobufCMessage *item);

typedef struct ctl_list {
    const char *path;
    ProtobufCMessage *req; /* a List request: page_size and page_token are set by ctl_list_run */
    const ProtobufCMessageDescriptor *resp_desc;
    const char *items; /* the repeated field of the response */
    ctl_table *table;  /* header row already added */
    ctl_row_fn row;    /* adds one item's row */
} ctl_list;

/* The flags ctl_list_run reads; put them in a list command's flag table. */
/* clang-format off */
#define CTL_PAGE_FLAGS                                                                             \
    {"limit", "N", "page size, 1-1000 (server default)"},                                          \
    {"page-token", "T", "continue after a previous page"},                                         \
    {"all", NULL, "follow next_page_token to the last page"}
/* clang-format on */

/* Address of a field of m found by name (or of its quantifier: n_ count, has_ flag, oneof
   case): list requests and responses share field names, not C types. An unknown field is a
   programming error (abort). */
void *ctl_member_at(const ProtobufCMessage *m, const char *field, bool quantifier);
/* Runs a list RPC honouring --limit, --page-token and --all; prints the table (with a
   "more: --page-token T" hint when there is another page) or the JSON: with --all one
   response message whose list holds every item. Returns the exit status. */
int ctl_list_run(ctl *c, ctl_list *l);

/* ---- server streams ----------------------------------------------------------------------- */

/* One message of a stream; return 0 to go on, an exit status to stop. The message is freed
   after the call: copy what must outlive it. */
typedef int (*ctl_msg_fn)(ctl *c, const ProtobufCMessage *msg, void *arg);

/* Calls a server-streaming method (its own channel, no deadline: it runs until the server ends
   the stream or the user interrupts) and hands each message, decoded as msg_desc, to on_msg;
   stdout is flushed after each. Messages are unpacked with malloc and freed one by one, so an
   endless stream does not grow the run's arena. SIGINT/SIGTERM cancel the call (the previous
   handlers are restored afterwards). Returns 0 when interrupted or ended with OK; CTL_FAIL with
   the status printed when the server ended it with an error (or a message did not decode);
   on_msg's non-zero status when it stopped the stream. */
int ctl_stream(ctl *c, const char *path, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *msg_desc, ctl_msg_fn on_msg, void *arg);

#endif
