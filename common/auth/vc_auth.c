#include "auth/vc_auth.h"

#include "base/vc_err.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define VC__ISSUER        "vcplatform"
#define VC__LEEWAY        30
#define VC__MAX_TOKEN     4096
#define VC__MAX_HEADER    512
#define VC__MAX_SECRET    65536
#define VC__MAX_TTL       (3600LL * 24 * 366 * 10)
#define VC__PERMS_FINANCE "{\"perms\":[\"finance\"]}"

struct vc_auth {
    size_t len;
    unsigned char key[]; /* immutable after vc_auth_new(): shared by all verifying threads */
};

static const struct {
    vc_role role;
    const char *name;
} vc__roles[] = {
    {VC_ROLE_RESELLER, "reseller"}, {VC_ROLE_CUSTOMER, "customer"}, {VC_ROLE_BILLING, "billing"},
    {VC_ROLE_STAFF, "staff"},       {VC_ROLE_SERVICE, "service"},
};

const char *vc_role_name(vc_role r)
{
    if (r == VC_ROLE_NONE) return "none";
    for (size_t i = 0; i < sizeof(vc__roles) / sizeof(vc__roles[0]); i++) {
        if (vc__roles[i].role == r) return vc__roles[i].name;
    }
    return "unknown";
}

int vc_role_parse(const char *s, vc_role *out)
{
    for (size_t i = 0; s != NULL && i < sizeof(vc__roles) / sizeof(vc__roles[0]); i++) {
        if (strcmp(vc__roles[i].name, s) == 0) {
            *out = vc__roles[i].role;
            return 0;
        }
    }
    return VC_EINVAL;
}

/* ---- secrets and handle ---- */

static int vc__read_file(const char *path, unsigned char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? VC_ENOENT : VC_EIO;
    unsigned char *buf = malloc(VC__MAX_SECRET + 1);
    if (buf == NULL) {
        close(fd);
        return VC_ENOMEM;
    }
    size_t n = 0;
    int rc = 0;
    while (n <= VC__MAX_SECRET) {
        ssize_t r = read(fd, buf + n, VC__MAX_SECRET + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = VC_EIO;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == 0 && n > VC__MAX_SECRET) rc = VC_EIO;
    if (rc != 0) {
        explicit_bzero(buf, n);
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return 0;
}

int vc_auth_load_secret(const char *secret, const char *secret_file, unsigned char **key,
                        size_t *len)
{
    bool have_secret = secret != NULL && secret[0] != '\0';
    bool have_file = secret_file != NULL && secret_file[0] != '\0';
    if (key == NULL || len == NULL || have_secret == have_file) return VC_EINVAL;

    unsigned char *buf;
    size_t n;
    if (have_secret) {
        n = strlen(secret);
        buf = malloc(n + 1);
        if (buf == NULL) return VC_ENOMEM;
        memcpy(buf, secret, n);
    } else {
        int rc = vc__read_file(secret_file, &buf, &n);
        if (rc != 0) return rc;
        /* Editors and `echo > file` add a newline nobody means as key material. */
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
    }
    if (n < VC_AUTH_MIN_KEY) {
        explicit_bzero(buf, n);
        free(buf);
        return VC_EINVAL;
    }
    *key = buf;
    *len = n;
    return 0;
}

int vc_auth_new(const unsigned char *key, size_t len, vc_auth **out)
{
    if (key == NULL || out == NULL || len < VC_AUTH_MIN_KEY || len > VC__MAX_SECRET)
        return VC_EINVAL;
    vc_auth *a = malloc(sizeof(*a) + len);
    if (a == NULL) return VC_ENOMEM;
    a->len = len;
    memcpy(a->key, key, len);
    /* jansson seeds its hash function lazily on first use; do it here, before worker threads
     * exist, rather than racing on it from concurrent verifications. */
    json_object_seed(0);
    *out = a;
    return 0;
}

void vc_auth_free(vc_auth *a)
{
    if (a == NULL) return;
    explicit_bzero(a->key, a->len);
    free(a);
}

/* ---- verification ---- */

/* Copies the token out of "Bearer <token>" into tok (NUL-terminated). NULL or a reason. */
static const char *vc__bearer(const char *h, char *tok, size_t cap)
{
    if (h == NULL) return "missing bearer token";
    h += strspn(h, " \t");
    if (*h == '\0') return "missing bearer token";
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t' && h[6] != '\0'))
        return "authorization is not a bearer token";
    h += 6;
    h += strspn(h, " \t");
    size_t n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n == 0) return "missing bearer token";
    if (n >= cap) return "token too long";
    memcpy(tok, h, n);
    tok[n] = '\0';
    return NULL;
}

static int vc__b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Unpadded base64url (RFC 7515 section 2) into out; false on bad input or overflow. */
static bool vc__b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap,
                              size_t *outlen)
{
    if (n % 4 == 1) return false;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = vc__b64url_val(s[i]);
        if (v < 0) return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return false;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = o;
    return true;
}

/* Checks the token's shape and that its header asks for HS256 and nothing we don't know.
 * Done before libjwt sees the token so "alg":"none" or an RSA/HMAC mix-up never reaches a
 * signature check that might treat the key differently. */
static const char *vc__check_header(const char *tok)
{
    static const char charset[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    if (tok[strspn(tok, charset)] != '\0') return "malformed token";
    const char *dot1 = strchr(tok, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL || dot1 == tok ||
        dot2 == dot1 + 1)
        return "malformed token";

    unsigned char hdr[VC__MAX_HEADER];
    size_t hlen;
    if (!vc__b64url_decode(tok, (size_t)(dot1 - tok), hdr, sizeof(hdr), &hlen))
        return "malformed token";
    json_t *h = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, NULL);
    const char *why = NULL;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *typ = json_string_value(json_object_get(h, "typ"));
    if (!json_is_object(h))
        why = "malformed token";
    else if (alg == NULL || strcmp(alg, "HS256") != 0)
        why = "unsupported algorithm";
    else if (json_object_get(h, "typ") != NULL && (typ == NULL || strcasecmp(typ, "JWT") != 0))
        why = "unsupported token type";
    else if (json_object_get(h, "crit") != NULL)
        why = "unsupported critical header";
    else if (dot2[1] == '\0')
        why = "bad signature";
    json_decref(h);
    return why;
}

/* Copies a string claim into dst: 0 copied, 1 absent, -1 not a non-empty string that fits
 * (embedded NULs count as not fitting). */
static int vc__copy_claim(json_t *claims, const char *key, char *dst, size_t cap)
{
    json_t *v = json_object_get(claims, key);
    if (v == NULL) return 1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || n == 0 || n >= cap || strlen(s) != n) return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

static const char *vc__check_time(json_t *claims, time_t now)
{
    json_t *exp = json_object_get(claims, "exp");
    json_t *nbf = json_object_get(claims, "nbf");
    if (exp == NULL) return "missing exp";
    if (!json_is_number(exp) || (nbf != NULL && !json_is_number(nbf))) return "malformed token";
    if ((double)now > json_number_value(exp) + VC__LEEWAY) return "token expired";
    if (nbf != NULL && (double)now + VC__LEEWAY < json_number_value(nbf))
        return "token not yet valid";
    return NULL;
}

static const char *vc__customer_claims(json_t *claims, vc_caller *out)
{
    int r = vc__copy_claim(claims, "customer_id", out->customer_id, sizeof(out->customer_id));
    if (r != 0) return r > 0 ? "missing customer_id" : "invalid customer_id";

    json_t *cr = json_object_get(claims, "customer_role");
    const char *crs = json_string_value(cr);
    if (cr != NULL &&
        (crs == NULL || (strcmp(crs, "owner") != 0 && strcmp(crs, "collaborator") != 0)))
        return "unknown customer_role";
    out->owner = crs != NULL && strcmp(crs, "owner") == 0;

    json_t *perms = json_object_get(claims, "perms");
    if (perms != NULL && !json_is_array(perms)) return "invalid perms";
    size_t i;
    json_t *p;
    json_array_foreach(perms, i, p)
    {
        if (!json_is_string(p)) return "invalid perms";
        /* Unknown permissions are ignored so newer issuers can add some. */
        if (strcmp(json_string_value(p), "finance") == 0) out->finance = true;
    }
    return NULL;
}

static const char *vc__check_claims(json_t *claims, time_t now, vc_caller *out)
{
    if (!json_is_object(claims)) return "malformed token";
    const char *why = vc__check_time(claims, now);
    if (why != NULL) return why;
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (iss == NULL || strcmp(iss, VC__ISSUER) != 0) return "wrong issuer";
    const char *role = json_string_value(json_object_get(claims, "role"));
    if (role == NULL) return "missing role";
    if (vc_role_parse(role, &out->role) != 0) return "unknown role";
    int r = vc__copy_claim(claims, "sub", out->subject, sizeof(out->subject));
    if (r != 0) return r > 0 ? "missing sub" : "invalid sub";
    if (out->role != VC_ROLE_RESELLER && out->role != VC_ROLE_CUSTOMER) return NULL;
    r = vc__copy_claim(claims, "reseller_id", out->reseller_id, sizeof(out->reseller_id));
    if (r != 0) return r > 0 ? "missing reseller_id" : "invalid reseller_id";
    return out->role == VC_ROLE_CUSTOMER ? vc__customer_claims(claims, out) : NULL;
}

/* Verifies the signature with libjwt and returns the claims as a jansson object, or a reason. */
static const char *vc__decode(const vc_auth *a, const char *tok, json_t **claims)
{
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, tok, a->key, (int)a->len) != 0) return "bad signature";
    const char *why = NULL;
    char *json = NULL;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        why = "unsupported algorithm";
    else if ((json = jwt_get_grants_json(jwt, NULL)) == NULL)
        why = "malformed token";
    else if ((*claims = json_loads(json, JSON_REJECT_DUPLICATES, NULL)) == NULL)
        why = "malformed token";
    free(json);
    jwt_free(jwt);
    return why;
}

int vc_auth_verify(const vc_auth *a, const char *authorization, vc_caller *out, const char **reason)
{
    char tok[VC__MAX_TOKEN];
    json_t *claims = NULL;
    vc_caller c;
    memset(&c, 0, sizeof(c));

    const char *why = a == NULL ? "no verifier configured" : NULL;
    if (why == NULL) why = vc__bearer(authorization, tok, sizeof(tok));
    if (why == NULL) why = vc__check_header(tok);
    if (why == NULL) why = vc__decode(a, tok, &claims);
    if (why == NULL) why = vc__check_claims(claims, time(NULL), &c);
    json_decref(claims);

    if (why != NULL) memset(&c, 0, sizeof(c));
    if (out != NULL) *out = c;
    if (reason != NULL) *reason = why;
    return why == NULL ? 0 : VC_EAUTH;
}

/* ---- minting ---- */

static bool vc__field_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    return n > 0 && n < cap;
}

static bool vc__mintable(const vc_caller *c)
{
    const char *name = vc_role_name(c->role);
    if (strcmp(name, "none") == 0 || strcmp(name, "unknown") == 0) return false;
    if (!vc__field_ok(c->subject, sizeof(c->subject))) return false;
    if ((c->role == VC_ROLE_RESELLER || c->role == VC_ROLE_CUSTOMER) &&
        !vc__field_ok(c->reseller_id, sizeof(c->reseller_id)))
        return false;
    return c->role != VC_ROLE_CUSTOMER || vc__field_ok(c->customer_id, sizeof(c->customer_id));
}

static int vc__add_claims(jwt_t *j, const vc_caller *c, int64_t ttl)
{
    time_t now = time(NULL);
    int rc = jwt_add_grant(j, "iss", VC__ISSUER);
    rc = rc ? rc : jwt_add_grant(j, "sub", c->subject);
    rc = rc ? rc : jwt_add_grant(j, "role", vc_role_name(c->role));
    if (c->role == VC_ROLE_RESELLER || c->role == VC_ROLE_CUSTOMER)
        rc = rc ? rc : jwt_add_grant(j, "reseller_id", c->reseller_id);
    if (c->role == VC_ROLE_CUSTOMER) {
        rc = rc ? rc : jwt_add_grant(j, "customer_id", c->customer_id);
        rc = rc ? rc : jwt_add_grant(j, "customer_role", c->owner ? "owner" : "collaborator");
        if (c->finance) rc = rc ? rc : jwt_add_grants_json(j, VC__PERMS_FINANCE);
    }
    rc = rc ? rc : jwt_add_grant_int(j, "iat", (long)now);
    rc = rc ? rc : jwt_add_grant_int(j, "exp", (long)(now + ttl));
    return rc;
}

int vc_auth_mint(const vc_auth *a, const vc_caller *c, int64_t ttl_seconds, char **token)
{
    if (a == NULL || c == NULL || token == NULL || ttl_seconds <= 0 || ttl_seconds > VC__MAX_TTL ||
        !vc__mintable(c))
        return VC_EINVAL;
    jwt_t *j = NULL;
    if (jwt_new(&j) != 0) return VC_ENOMEM;
    /* With the input validated above, libjwt can only fail here by running out of memory. */
    int rc = vc__add_claims(j, c, ttl_seconds);
    if (rc == 0) rc = jwt_set_alg(j, JWT_ALG_HS256, a->key, (int)a->len);
    char *t = rc == 0 ? jwt_encode_str(j) : NULL;
    jwt_free(j);
    if (t == NULL) return VC_ENOMEM;
    *token = t;
    return 0;
}
