/*
 * vc-token - mint a development bearer token signed with the platform's HS256 secret.
 *
 *   vc-token --secret-file .run/jwt.key --role reseller --sub op-1 --reseller r-1
 *   grpcurl -H "authorization: Bearer $(vc-token ...)" ...
 *
 * Every flag can also come from the environment with the VC_JWT_ prefix (VC_JWT_SECRET,
 * VC_JWT_SECRET_FILE, VC_JWT_ROLE, ...), the same secret variables the services read.
 * Prints only the token and a newline on stdout; errors go to stderr.
 * Exit status: 0 token printed, 1 the secret could not be loaded or minting failed,
 * 2 bad usage.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/vc_auth.h"
#include "base/vc_err.h"
#include "runtime/vc_config.h"

typedef struct token_cfg {
    char *secret;
    char *secret_file;
    char *role;
    char *sub;
    char *reseller;
    char *customer;
    char *customer_role;
    char *perm;
    int64_t ttl;
} token_cfg;

static const vc_option token_opts[] = {
    {"secret", VC_OPT_STRING, offsetof(token_cfg, secret), NULL,
     "signing secret itself (>= 32 bytes); prefer --secret-file", 0, 0},
    {"secret-file", VC_OPT_STRING, offsetof(token_cfg, secret_file), NULL,
     "file holding the signing secret (trailing newline ignored)", 0, 0},
    {"role", VC_OPT_STRING, offsetof(token_cfg, role), NULL,
     "reseller | customer | billing | staff | service (required)", 0, 0},
    {"sub", VC_OPT_STRING, offsetof(token_cfg, sub), NULL,
     "subject: the operator, account or service name (required)", 0, 0},
    {"reseller", VC_OPT_STRING, offsetof(token_cfg, reseller), NULL,
     "reseller id (required for reseller and customer tokens)", 0, 0},
    {"customer", VC_OPT_STRING, offsetof(token_cfg, customer), NULL,
     "customer account id (required for customer tokens)", 0, 0},
    {"customer-role", VC_OPT_STRING, offsetof(token_cfg, customer_role), "collaborator",
     "owner | collaborator (customer tokens)", 0, 0},
    {"perm", VC_OPT_STRING, offsetof(token_cfg, perm), NULL,
     "permission of a customer collaborator; only \"finance\" exists", 0, 0},
    {"ttl", VC_OPT_INT, offsetof(token_cfg, ttl), "3600", "lifetime in seconds", 1,
     3600LL * 24 * 365 * 10},
};
#define TOKEN_NOPTS (sizeof(token_opts) / sizeof(token_opts[0]))

static bool copy_field(char *dst, size_t cap, const char *src, const char *flag)
{
    if (src == NULL) return true;
    size_t n = strlen(src);
    if (n >= cap) {
        fprintf(stderr, "vc-token: --%s is longer than %zu bytes\n", flag, cap - 1);
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

/* Turns the flags into a vc_caller, printing why not (exit status 2) on failure. */
static bool build_caller(const token_cfg *cfg, vc_caller *c)
{
    memset(c, 0, sizeof(*c));
    if (cfg->role == NULL || vc_role_parse(cfg->role, &c->role) != 0) {
        fprintf(stderr, "vc-token: --role must be reseller, customer, billing, staff or service\n");
        return false;
    }
    if (cfg->sub == NULL || cfg->sub[0] == '\0') {
        fprintf(stderr, "vc-token: --sub is required\n");
        return false;
    }
    bool tenant = c->role == VC_ROLE_RESELLER || c->role == VC_ROLE_CUSTOMER;
    bool customer = c->role == VC_ROLE_CUSTOMER;
    if (tenant && (cfg->reseller == NULL || cfg->reseller[0] == '\0')) {
        fprintf(stderr, "vc-token: --reseller is required for %s tokens\n", cfg->role);
        return false;
    }
    if (customer && (cfg->customer == NULL || cfg->customer[0] == '\0')) {
        fprintf(stderr, "vc-token: --customer is required for customer tokens\n");
        return false;
    }
    if ((!tenant && cfg->reseller) || (!customer && (cfg->customer || cfg->perm))) {
        fprintf(stderr, "vc-token: --reseller/--customer/--perm do not apply to %s tokens\n",
                cfg->role);
        return false;
    }
    if (strcmp(cfg->customer_role, "owner") != 0 &&
        strcmp(cfg->customer_role, "collaborator") != 0) {
        fprintf(stderr, "vc-token: --customer-role must be owner or collaborator\n");
        return false;
    }
    if (cfg->perm != NULL && strcmp(cfg->perm, "finance") != 0) {
        fprintf(stderr, "vc-token: unknown --perm \"%s\" (only \"finance\")\n", cfg->perm);
        return false;
    }
    c->owner = customer && strcmp(cfg->customer_role, "owner") == 0;
    c->finance = customer && cfg->perm != NULL;
    return copy_field(c->subject, sizeof(c->subject), cfg->sub, "sub") &&
           (!tenant ||
            copy_field(c->reseller_id, sizeof(c->reseller_id), cfg->reseller, "reseller")) &&
           (!customer ||
            copy_field(c->customer_id, sizeof(c->customer_id), cfg->customer, "customer"));
}

/* Loads the secret and mints; returns the exit status. */
static int mint(const token_cfg *cfg, const vc_caller *c)
{
    unsigned char *key = NULL;
    size_t len = 0;
    int rc = vc_auth_load_secret(cfg->secret, cfg->secret_file, &key, &len);
    if (rc != 0) {
        if (rc == VC_EINVAL)
            fprintf(stderr,
                    "vc-token: give exactly one of --secret / --secret-file (or "
                    "VC_JWT_SECRET / VC_JWT_SECRET_FILE), at least %d bytes\n",
                    VC_AUTH_MIN_KEY);
        else
            fprintf(stderr, "vc-token: cannot read %s: %s\n", cfg->secret_file, vc_strerror(rc));
        return 1;
    }
    vc_auth *a = NULL;
    rc = vc_auth_new(key, len, &a);
    free(key);
    char *token = NULL;
    if (rc == 0) rc = vc_auth_mint(a, c, cfg->ttl, &token);
    vc_auth_free(a);
    if (rc != 0) {
        fprintf(stderr, "vc-token: %s\n", vc_strerror(rc));
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

int main(int argc, char **argv)
{
    token_cfg cfg = {0};
    int rc = vc_config_parse(token_opts, TOKEN_NOPTS, &cfg, argc, argv, "VC_JWT_", "vc-token",
                             "Mints a development bearer token (HS256 JWT) and prints it.");
    if (rc == 1) return 0;
    if (rc != 0) return 2;
    vc_caller caller;
    int status = build_caller(&cfg, &caller) ? mint(&cfg, &caller) : 2;
    vc_config_free(token_opts, TOKEN_NOPTS, &cfg);
    return status;
}
