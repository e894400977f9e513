#include "runtime/vc_config.h"

#include "base/vc_err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VC__ENV_NAME_MAX 128

/* Where a value came from, for error messages. */
typedef enum vc__source { VC__SRC_DEFAULT, VC__SRC_ENV, VC__SRC_FLAG } vc__source;

/* Everything an error message needs, so helpers do not take eight arguments. */
typedef struct vc__ctx {
    const vc_option *opts;
    size_t n;
    void *cfg;
    const char *prefix;
    const char *program;
} vc__ctx;

static void *vc__field(void *cfg, const vc_option *o)
{
    return (char *)cfg + o->offset;
}

static void vc__env_name(const char *prefix, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s", prefix ? prefix : "", name);
    for (char *p = buf + (prefix ? strlen(prefix) : 0); *p; p++) {
        if (*p == '-')
            *p = '_';
        else if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
}

static int vc__parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return VC_EINVAL;
}

/* Strict base-10 int64: optional sign, digits, nothing else (no spaces, no hex). */
static int vc__parse_int(const char *s, int64_t *out)
{
    const char *digits = (*s == '-' || *s == '+') ? s + 1 : s;
    if (*digits < '0' || *digits > '9') return VC_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno == ERANGE) return VC_EINVAL;
    *out = (int64_t)v;
    return 0;
}

static void vc__fail(const vc__ctx *c, const vc_option *o, vc__source src, const char *value,
                     const char *why)
{
    char env[VC__ENV_NAME_MAX];
    vc__env_name(c->prefix, o->name, env, sizeof(env));
    switch (src) {
    case VC__SRC_DEFAULT:
        fprintf(stderr, "%s: invalid default \"%s\" for --%s: %s\n", c->program, value, o->name,
                why);
        break;
    case VC__SRC_ENV:
        fprintf(stderr, "%s: invalid value \"%s\" in %s (flag --%s): %s\n", c->program, value, env,
                o->name, why);
        break;
    case VC__SRC_FLAG:
        fprintf(stderr, "%s: invalid value \"%s\" for --%s (env %s): %s\n", c->program, value,
                o->name, c->prefix ? env : "-", why);
        break;
    }
}

/* Stores value into o's field, replacing (and freeing) an earlier string. */
static int vc__set(const vc__ctx *c, const vc_option *o, vc__source src, const char *value)
{
    void *field = vc__field(c->cfg, o);
    char why[96];
    switch (o->type) {
    case VC_OPT_STRING: {
        char *copy = strdup(value);
        if (copy == NULL) return VC_ENOMEM;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case VC_OPT_INT: {
        int64_t v;
        if (vc__parse_int(value, &v) != 0) {
            vc__fail(c, o, src, value, "not an integer");
            return VC_EINVAL;
        }
        if ((o->min != 0 || o->max != 0) && (v < o->min || v > o->max)) {
            snprintf(why, sizeof(why), "must be between %lld and %lld", (long long)o->min,
                     (long long)o->max);
            vc__fail(c, o, src, value, why);
            return VC_EINVAL;
        }
        *(int64_t *)field = v;
        return 0;
    }
    case VC_OPT_BOOL:
        if (vc__parse_bool(value, (bool *)field) != 0) {
            vc__fail(c, o, src, value, "not a boolean (true/false, yes/no, on/off, 1/0)");
            return VC_EINVAL;
        }
        return 0;
    }
    return VC_EINVAL;
}

static const vc_option *vc__find(const vc__ctx *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strncmp(c->opts[i].name, name, len) == 0 && c->opts[i].name[len] == '\0')
            return &c->opts[i];
    }
    return NULL;
}

static bool vc__is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Finds -h/--help among the flags, skipping arguments that are the value of a previous flag,
 * so that --help wins even when other flags or the environment are wrong. */
static bool vc__wants_help(const vc__ctx *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (vc__is_help(a)) return true;
        if (strncmp(a, "--", 2) != 0 || strchr(a, '=') != NULL) continue;
        const vc_option *o = vc__find(c, a + 2, strlen(a + 2));
        if (o != NULL && o->type != VC_OPT_BOOL) i++;
    }
    return false;
}

static int vc__apply_defaults(const vc__ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        const vc_option *o = &c->opts[i];
        void *field = vc__field(c->cfg, o);
        if (o->type == VC_OPT_INT)
            *(int64_t *)field = 0;
        else if (o->type == VC_OPT_BOOL)
            *(bool *)field = false;
        if (o->default_value != NULL) {
            int rc = vc__set(c, o, VC__SRC_DEFAULT, o->default_value);
            if (rc != 0) return rc;
        }
    }
    return 0;
}

static int vc__apply_env(const vc__ctx *c)
{
    if (c->prefix == NULL) return 0;
    for (size_t i = 0; i < c->n; i++) {
        char env[VC__ENV_NAME_MAX];
        vc__env_name(c->prefix, c->opts[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (v != NULL) {
            int rc = vc__set(c, &c->opts[i], VC__SRC_ENV, v);
            if (rc != 0) return rc;
        }
    }
    return 0;
}

/* Handles argv[*i] (and possibly consumes argv[*i + 1]). */
static int vc__apply_flag(const vc__ctx *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
        fprintf(stderr, "%s: unexpected argument \"%s\" (only --flags are accepted)\n", c->program,
                a);
        return VC_EINVAL;
    }
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const vc_option *o = vc__find(c, name, len);
    if (o == NULL && len > 3 && strncmp(name, "no-", 3) == 0) {
        o = vc__find(c, name + 3, len - 3);
        if (o != NULL && o->type == VC_OPT_BOOL) {
            if (eq != NULL) {
                fprintf(stderr, "%s: %.*s takes no value\n", c->program, (int)(len + 2), a);
                return VC_EINVAL;
            }
            *(bool *)vc__field(c->cfg, o) = false;
            return 0;
        }
        o = NULL;
    }
    if (o == NULL) {
        fprintf(stderr, "%s: unknown flag --%.*s (see --help)\n", c->program, (int)len, name);
        return VC_EINVAL;
    }
    if (eq != NULL) return vc__set(c, o, VC__SRC_FLAG, eq + 1);
    if (o->type == VC_OPT_BOOL) {
        *(bool *)vc__field(c->cfg, o) = true;
        return 0;
    }
    if (*i + 1 >= argc) {
        char env[VC__ENV_NAME_MAX];
        vc__env_name(c->prefix, o->name, env, sizeof(env));
        fprintf(stderr, "%s: --%s needs a value (env %s)\n", c->program, o->name,
                c->prefix ? env : "-");
        return VC_EINVAL;
    }
    *i += 1;
    return vc__set(c, o, VC__SRC_FLAG, argv[*i]);
}

int vc_config_parse(const vc_option *opts, size_t n, void *cfg, int argc, char **argv,
                    const char *env_prefix, const char *program, const char *summary)
{
    if ((opts == NULL && n > 0) || cfg == NULL || (argv == NULL && argc > 0)) return VC_EINVAL;
    vc__ctx c = {opts, n, cfg, env_prefix, program ? program : "program"};
    for (size_t i = 0; i < n; i++) {
        if (opts[i].name == NULL || (unsigned)opts[i].type > VC_OPT_BOOL) return VC_EINVAL;
        if (opts[i].type == VC_OPT_STRING) *(char **)vc__field(cfg, &opts[i]) = NULL;
    }
    if (vc__wants_help(&c, argc, argv)) {
        vc_config_usage(opts, n, env_prefix, c.program, summary);
        return 1;
    }

    int rc = vc__apply_defaults(&c);
    if (rc == 0) rc = vc__apply_env(&c);
    for (int i = 1; rc == 0 && i < argc; i++)
        rc = vc__apply_flag(&c, argc, argv, &i);
    if (rc != 0) vc_config_free(opts, n, cfg);
    return rc;
}

void vc_config_free(const vc_option *opts, size_t n, void *cfg)
{
    if (opts == NULL || cfg == NULL) return;
    for (size_t i = 0; i < n; i++) {
        if (opts[i].type == VC_OPT_STRING) {
            char **s = vc__field(cfg, &opts[i]);
            free(*s);
            *s = NULL;
        }
    }
}

static void vc__usage_option(const vc_option *o, const char *prefix)
{
    char env[VC__ENV_NAME_MAX];
    vc__env_name(prefix, o->name, env, sizeof(env));
    switch (o->type) {
    case VC_OPT_STRING: printf("  --%s=STRING\n", o->name); break;
    case VC_OPT_INT:
        if (o->min != 0 || o->max != 0)
            printf("  --%s=INT (%lld..%lld)\n", o->name, (long long)o->min, (long long)o->max);
        else
            printf("  --%s=INT\n", o->name);
        break;
    case VC_OPT_BOOL: printf("  --[no-]%s\n", o->name); break;
    }
    if (o->help != NULL) printf("        %s\n", o->help);
    printf("        default: %s", o->default_value ? o->default_value : "(none)");
    if (prefix != NULL) printf("   env: %s", env);
    printf("\n");
}

void vc_config_usage(const vc_option *opts, size_t n, const char *env_prefix, const char *program,
                     const char *summary)
{
    printf("Usage: %s [OPTIONS]\n\n", program ? program : "program");
    if (summary != NULL) printf("%s\n\n", summary);
    printf("Options (a flag overrides its environment variable, which overrides the default):\n");
    for (size_t i = 0; i < n; i++)
        vc__usage_option(&opts[i], env_prefix);
    printf("  -h, --help\n        show this help and exit\n");
    fflush(stdout);
}
