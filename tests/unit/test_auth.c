/* Unit tests for auth/vc_auth: roundtrips, forged and broken tokens, Bearer parsing, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <jwt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/vc_auth.h"
#include "base/vc_err.h"

static const unsigned char KEY[] = "test-key-0123456789-abcdefghijklmnop";
#define KEYLEN (sizeof(KEY) - 1)

static int setup(void **state)
{
    vc_auth *a = NULL;
    if (vc_auth_new(KEY, KEYLEN, &a) != 0) return -1;
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    vc_auth_free(*state);
    return 0;
}

/* Signs arbitrary claims (JSON) with alg; JWT_ALG_NONE gives an unsigned token. */
static char *craft(jwt_alg_t alg, const unsigned char *key, size_t keylen, const char *claims)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims), 0);
    if (alg != JWT_ALG_NONE) assert_int_equal(jwt_set_alg(j, alg, key, (int)keylen), 0);
    char *t = jwt_encode_str(j);
    assert_non_null(t);
    jwt_free(j);
    return t;
}

/* Claims JSON for a reseller token with exp = now + exp_delta, plus extra members. */
static char *claims(long exp_delta, const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"vcplatform\",\"sub\":\"op-1\",\"role\":\"reseller\","
             "\"reseller_id\":\"r-42\",\"iat\":%ld,\"exp\":%ld%s%s}",
             (long)time(NULL), (long)time(NULL) + exp_delta, extra ? "," : "", extra ? extra : "");
    return buf;
}

/* Field by field: struct padding makes memcmp on vc_caller meaningless. */
static bool same_caller(const vc_caller *x, const vc_caller *y)
{
    return x->role == y->role && strcmp(x->subject, y->subject) == 0 &&
           strcmp(x->reseller_id, y->reseller_id) == 0 &&
           strcmp(x->customer_id, y->customer_id) == 0 && x->owner == y->owner &&
           x->finance == y->finance;
}

static int verify_token(vc_auth *a, const char *token, vc_caller *out, const char **reason)
{
    char hdr[4096];
    snprintf(hdr, sizeof(hdr), "Bearer %s", token);
    return vc_auth_verify(a, hdr, out, reason);
}

static void expect_reject(vc_auth *a, const char *token, const char *want_reason)
{
    vc_caller c;
    memset(&c, 0x55, sizeof(c));
    const char *reason = NULL;
    assert_int_equal(verify_token(a, token, &c, &reason), VC_EAUTH);
    assert_non_null(reason);
    if (strcmp(reason, want_reason) != 0)
        fail_msg("reason \"%s\", want \"%s\"", reason, want_reason);
    assert_int_equal(c.role, VC_ROLE_NONE); /* nothing leaks out of a rejected token */
    assert_string_equal(c.subject, "");
    assert_string_equal(c.reseller_id, "");
}

static void test_roundtrip_every_role(void **state)
{
    vc_auth *a = *state;
    const vc_caller callers[] = {
        {.role = VC_ROLE_RESELLER, .subject = "op-1", .reseller_id = "r-1"},
        {.role = VC_ROLE_CUSTOMER,
         .subject = "u-1",
         .reseller_id = "r-1",
         .customer_id = "c-9",
         .owner = true},
        {.role = VC_ROLE_CUSTOMER,
         .subject = "u-2",
         .reseller_id = "r-1",
         .customer_id = "c-9",
         .finance = true},
        {.role = VC_ROLE_CUSTOMER, .subject = "u-3", .reseller_id = "r-1", .customer_id = "c-9"},
        {.role = VC_ROLE_BILLING, .subject = "billing-engine"},
        {.role = VC_ROLE_STAFF, .subject = "clerk@provider"},
        {.role = VC_ROLE_SERVICE, .subject = "approval-svc"},
    };
    for (size_t i = 0; i < sizeof(callers) / sizeof(callers[0]); i++) {
        char *tok = NULL;
        assert_int_equal(vc_auth_mint(a, &callers[i], 60, &tok), 0);
        vc_caller got;
        const char *reason = "unset";
        assert_int_equal(verify_token(a, tok, &got, &reason), 0);
        assert_null(reason);
        assert_true(same_caller(&got, &callers[i]));
        free(tok);
    }

    /* Tenant fields that do not belong to the role are neither minted nor trusted. */
    vc_caller staff = {.role = VC_ROLE_STAFF, .subject = "s", .reseller_id = "r-evil"};
    char *tok = NULL;
    assert_int_equal(vc_auth_mint(a, &staff, 60, &tok), 0);
    vc_caller got;
    assert_int_equal(verify_token(a, tok, &got, NULL), 0);
    assert_string_equal(got.reseller_id, "");
    free(tok);
    char *t2 = craft(JWT_ALG_HS256, KEY, KEYLEN,
                     claims(60, "\"customer_id\":\"c-1\",\"perms\":[\"finance\"]"));
    assert_int_equal(verify_token(a, t2, &got, NULL), 0);
    assert_int_equal(got.role, VC_ROLE_RESELLER);
    assert_string_equal(got.customer_id, "");
    assert_false(got.finance);
    free(t2);
}

static void test_mint_rejects_bad_callers(void **state)
{
    vc_auth *a = *state;
    char *tok = (char *)"untouched";
    const vc_caller bad[] = {
        {.role = VC_ROLE_NONE, .subject = "x"},
        {.role = VC_ROLE_RESELLER | VC_ROLE_STAFF, .subject = "x", .reseller_id = "r"},
        {.role = VC_ROLE_STAFF, .subject = ""},
        {.role = VC_ROLE_RESELLER, .subject = "x"},
        {.role = VC_ROLE_CUSTOMER, .subject = "x", .reseller_id = "r"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(vc_auth_mint(a, &bad[i], 60, &tok), VC_EINVAL);
    vc_caller ok = {.role = VC_ROLE_STAFF, .subject = "x"};
    assert_int_equal(vc_auth_mint(a, &ok, 0, &tok), VC_EINVAL);
    assert_int_equal(vc_auth_mint(a, &ok, -5, &tok), VC_EINVAL);
    vc_caller unterminated = {.role = VC_ROLE_STAFF};
    memset(unterminated.subject, 'x', sizeof(unterminated.subject));
    assert_int_equal(vc_auth_mint(a, &unterminated, 60, &tok), VC_EINVAL);
    assert_string_equal(tok, "untouched");
}

static void test_wrong_key_and_tampering(void **state)
{
    vc_auth *a = *state;
    static const unsigned char other[] = "another-key-0123456789-abcdefghijk";
    char *t = craft(JWT_ALG_HS256, other, sizeof(other) - 1, claims(60, NULL));
    expect_reject(a, t, "bad signature");
    free(t);

    /* Swap the payload of a valid reseller token for a staff one, keep the signature. */
    vc_caller c = {.role = VC_ROLE_RESELLER, .subject = "op", .reseller_id = "r-1"};
    char *good = NULL;
    assert_int_equal(vc_auth_mint(a, &c, 60, &good), 0);
    vc_caller s = {.role = VC_ROLE_STAFF, .subject = "op"};
    char *staff = NULL;
    assert_int_equal(vc_auth_mint(a, &s, 60, &staff), 0);
    char forged[4096];
    const char *g1 = strchr(good, '.'), *g2 = strrchr(good, '.');
    const char *s1 = strchr(staff, '.'), *s2 = strrchr(staff, '.');
    snprintf(forged, sizeof(forged), "%.*s%.*s%s", (int)(g1 - good), good, (int)(s2 - s1), s1, g2);
    expect_reject(a, forged, "bad signature");

    /* Flip one character of the signature and of the payload. */
    strcpy(forged, good);
    char *last = forged + strlen(forged) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    expect_reject(a, forged, "bad signature");
    strcpy(forged, good);
    forged[g1 - good + 5] ^= 1;
    vc_caller out;
    assert_int_equal(verify_token(a, forged, &out, NULL), VC_EAUTH);
    free(good);
    free(staff);
}

static void b64url(const char *in, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
}

static void test_algorithm_attacks(void **state)
{
    vc_auth *a = *state;
    /* Unsigned token from libjwt itself. */
    char *t = craft(JWT_ALG_NONE, NULL, 0, claims(60, NULL));
    expect_reject(a, t, "unsupported algorithm");
    free(t);

    /* Hand-made "alg":"none" with and without a (stolen) signature, and odd spellings. */
    char hdr[128], body[1024], tok[2048];
    b64url(claims(60, NULL), body);
    static const char *const headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"None\"}",
        "{\"alg\":\"HS256 \"}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\"}",
        "{\"alg\":null}",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        b64url(headers[i], hdr);
        snprintf(tok, sizeof(tok), "%s.%s.", hdr, body);
        expect_reject(a, tok, "unsupported algorithm");
        snprintf(tok, sizeof(tok), "%s.%s.c2lnbmF0dXJl", hdr, body);
        expect_reject(a, tok, "unsupported algorithm");
    }
    /* HS256 header but no signature. */
    b64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", hdr);
    snprintf(tok, sizeof(tok), "%s.%s.", hdr, body);
    expect_reject(a, tok, "bad signature");
    /* Headers we refuse to half-understand. */
    b64url("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", hdr);
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", hdr, body);
    expect_reject(a, tok, "unsupported critical header");
    b64url("{\"alg\":\"HS256\",\"typ\":\"JWE\"}", hdr);
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", hdr, body);
    expect_reject(a, tok, "unsupported token type");
    b64url("{\"alg\":\"HS256\",\"alg\":\"none\"}", hdr);
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", hdr, body);
    expect_reject(a, tok, "malformed token");

    /* A valid HS384 signature with the right key is still the wrong algorithm. */
    t = craft(JWT_ALG_HS384, KEY, KEYLEN, claims(60, NULL));
    expect_reject(a, t, "unsupported algorithm");
    free(t);
    t = craft(JWT_ALG_HS512, KEY, KEYLEN, claims(60, NULL));
    expect_reject(a, t, "unsupported algorithm");
    free(t);
}

static void test_time_claims(void **state)
{
    vc_auth *a = *state;
    vc_caller c;
    char *t = craft(JWT_ALG_HS256, KEY, KEYLEN, claims(-100, NULL));
    expect_reject(a, t, "token expired");
    free(t);
    t = craft(JWT_ALG_HS256, KEY, KEYLEN, claims(-10, NULL)); /* within the 30 s leeway */
    assert_int_equal(verify_token(a, t, &c, NULL), 0);
    free(t);

    char nbf[64];
    snprintf(nbf, sizeof(nbf), "\"nbf\":%ld", (long)time(NULL) + 100);
    t = craft(JWT_ALG_HS256, KEY, KEYLEN, claims(600, nbf));
    expect_reject(a, t, "token not yet valid");
    free(t);
    snprintf(nbf, sizeof(nbf), "\"nbf\":%ld", (long)time(NULL) + 10);
    t = craft(JWT_ALG_HS256, KEY, KEYLEN, claims(600, nbf));
    assert_int_equal(verify_token(a, t, &c, NULL), 0);
    free(t);

    t = craft(JWT_ALG_HS256, KEY, KEYLEN,
              "{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"staff\"}");
    expect_reject(a, t, "missing exp");
    free(t);
    t = craft(JWT_ALG_HS256, KEY, KEYLEN,
              "{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"staff\",\"exp\":\"soon\"}");
    expect_reject(a, t, "malformed token");
    free(t);
}

static void test_missing_and_bad_claims(void **state)
{
    vc_auth *a = *state;
    long exp = (long)time(NULL) + 60;
    static const struct {
        const char *fmt;
        const char *reason;
    } cases[] = {
        {"{\"sub\":\"s\",\"role\":\"staff\",\"exp\":%ld}", "wrong issuer"},
        {"{\"iss\":\"someone\",\"sub\":\"s\",\"role\":\"staff\",\"exp\":%ld}", "wrong issuer"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"exp\":%ld}", "missing role"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"admin\",\"exp\":%ld}", "unknown role"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"Staff\",\"exp\":%ld}", "unknown role"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":7,\"exp\":%ld}", "missing role"},
        {"{\"iss\":\"vcplatform\",\"role\":\"staff\",\"exp\":%ld}", "missing sub"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"\",\"role\":\"staff\",\"exp\":%ld}", "invalid sub"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"reseller\",\"exp\":%ld}",
         "missing reseller_id"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"reseller\",\"reseller_id\":5,"
         "\"exp\":%ld}",
         "invalid reseller_id"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"customer\",\"reseller_id\":\"r\","
         "\"exp\":%ld}",
         "missing customer_id"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"customer\",\"exp\":%ld,"
         "\"customer_id\":\"c\"}",
         "missing reseller_id"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"customer\",\"reseller_id\":\"r\","
         "\"customer_id\":\"c\",\"customer_role\":\"admin\",\"exp\":%ld}",
         "unknown customer_role"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"customer\",\"reseller_id\":\"r\","
         "\"customer_id\":\"c\",\"perms\":\"finance\",\"exp\":%ld}",
         "invalid perms"},
        {"{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"customer\",\"reseller_id\":\"r\","
         "\"customer_id\":\"c\",\"perms\":[1],\"exp\":%ld}",
         "invalid perms"},
    };
    char json[1024];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(json, sizeof(json), cases[i].fmt, exp);
        char *t = craft(JWT_ALG_HS256, KEY, KEYLEN, json);
        expect_reject(a, t, cases[i].reason);
        free(t);
    }

    /* Over-long ids do not fit the caller struct and are refused, not truncated. */
    char longid[200];
    memset(longid, 'r', 100);
    longid[100] = '\0';
    snprintf(json, sizeof(json),
             "{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"reseller\",\"reseller_id\":\"%s\","
             "\"exp\":%ld}",
             longid, exp);
    char *t = craft(JWT_ALG_HS256, KEY, KEYLEN, json);
    expect_reject(a, t, "invalid reseller_id");
    free(t);

    /* Unknown permissions are ignored; a collaborator without "finance" has none. */
    snprintf(json, sizeof(json),
             "{\"iss\":\"vcplatform\",\"sub\":\"s\",\"role\":\"customer\",\"reseller_id\":\"r\","
             "\"customer_id\":\"c\",\"perms\":[\"audit\"],\"exp\":%ld}",
             exp);
    t = craft(JWT_ALG_HS256, KEY, KEYLEN, json);
    vc_caller c;
    assert_int_equal(verify_token(a, t, &c, NULL), 0);
    assert_int_equal(c.role, VC_ROLE_CUSTOMER);
    assert_false(c.owner);
    assert_false(c.finance);
    free(t);
}

static void test_bearer_parsing(void **state)
{
    vc_auth *a = *state;
    vc_caller c = {.role = VC_ROLE_STAFF, .subject = "s"};
    char *tok = NULL;
    assert_int_equal(vc_auth_mint(a, &c, 60, &tok), 0);
    char hdr[4096];
    vc_caller got;
    const char *reason;

    static const char *const good_fmt[] = {"Bearer %s", "bearer %s", "BEARER  %s",
                                           "  Bearer\t%s  "};
    for (size_t i = 0; i < sizeof(good_fmt) / sizeof(good_fmt[0]); i++) {
        snprintf(hdr, sizeof(hdr), good_fmt[i], tok);
        assert_int_equal(vc_auth_verify(a, hdr, &got, &reason), 0);
        assert_int_equal(got.role, VC_ROLE_STAFF);
    }

    static const struct {
        const char *fmt;
        const char *reason;
    } bad[] = {
        {"%s", "authorization is not a bearer token"},
        {"Basic %s", "authorization is not a bearer token"},
        {"Bearer%s", "authorization is not a bearer token"},
        {"Bearer", "missing bearer token"},
        {"Bearer   ", "missing bearer token"},
        {"", "missing bearer token"},
        {"Bearer %s.x", "malformed token"},
        {"Bearer x%s", "malformed token"},
        {"Bearer %s x", "malformed token"},
        {"Bearer ..", "malformed token"},
        {"Bearer a.b", "malformed token"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(hdr, sizeof(hdr), bad[i].fmt, tok);
        reason = NULL;
        assert_int_equal(vc_auth_verify(a, hdr, &got, &reason), VC_EAUTH);
        if (reason == NULL || strcmp(reason, bad[i].reason) != 0)
            fail_msg("\"%s\": reason \"%s\", want \"%s\"", bad[i].fmt, reason, bad[i].reason);
    }
    assert_int_equal(vc_auth_verify(a, NULL, &got, &reason), VC_EAUTH);
    assert_string_equal(reason, "missing bearer token");
    assert_int_equal(vc_auth_verify(a, NULL, NULL, NULL), VC_EAUTH);

    char *huge = malloc(10000);
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'a', 9000);
    huge[9007] = '\0';
    assert_int_equal(vc_auth_verify(a, huge, &got, &reason), VC_EAUTH);
    assert_string_equal(reason, "token too long");
    free(huge);
    free(tok);
}

static void test_secrets(void **state)
{
    unsigned char *key = NULL;
    size_t len = 0;
    assert_int_equal(vc_auth_load_secret("0123456789abcdef0123456789abcdef", NULL, &key, &len), 0);
    assert_int_equal(len, 32);
    assert_memory_equal(key, "0123456789abcdef0123456789abcdef", 32);
    free(key);
    assert_int_equal(vc_auth_load_secret("too-short", NULL, &key, &len), VC_EINVAL);
    assert_int_equal(vc_auth_load_secret(NULL, NULL, &key, &len), VC_EINVAL);
    assert_int_equal(vc_auth_load_secret("", "", &key, &len), VC_EINVAL);
    assert_int_equal(
        vc_auth_load_secret("0123456789abcdef0123456789abcdef", "/etc/hostname", &key, &len),
        VC_EINVAL);

    char path[] = "/tmp/vc_test_secret_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char content[] = "file-secret-0123456789abcdefghijklmn\r\n\n";
    assert_int_equal(write(fd, content, sizeof(content) - 1), sizeof(content) - 1);
    close(fd);
    assert_int_equal(vc_auth_load_secret(NULL, path, &key, &len), 0);
    assert_int_equal(len, strlen("file-secret-0123456789abcdefghijklmn"));
    assert_memory_equal(key, "file-secret-0123456789abcdefghijklmn", len);

    /* The loaded key works end to end. */
    vc_auth *a = NULL;
    assert_int_equal(vc_auth_new(key, len, &a), 0);
    free(key);
    vc_caller c = {.role = VC_ROLE_BILLING, .subject = "b"};
    char *tok = NULL;
    assert_int_equal(vc_auth_mint(a, &c, 60, &tok), 0);
    vc_caller got;
    assert_int_equal(verify_token(a, tok, &got, NULL), 0);
    assert_int_equal(got.role, VC_ROLE_BILLING);
    free(tok);
    vc_auth_free(a);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "short\n", 6), 6);
    close(fd);
    assert_int_equal(vc_auth_load_secret(NULL, path, &key, &len), VC_EINVAL);
    unlink(path);
    assert_int_equal(vc_auth_load_secret(NULL, path, &key, &len), VC_ENOENT);

    assert_int_equal(vc_auth_new((const unsigned char *)"short", 5, &a), VC_EINVAL);
}

static void test_role_names(void **state)
{
    static const vc_role roles[] = {VC_ROLE_RESELLER, VC_ROLE_CUSTOMER, VC_ROLE_BILLING,
                                    VC_ROLE_STAFF, VC_ROLE_SERVICE};
    for (size_t i = 0; i < 5; i++) {
        vc_role back = VC_ROLE_NONE;
        assert_int_equal(vc_role_parse(vc_role_name(roles[i]), &back), 0);
        assert_int_equal(back, roles[i]);
    }
    assert_string_equal(vc_role_name(VC_ROLE_CUSTOMER), "customer");
    assert_string_equal(vc_role_name(VC_ROLE_NONE), "none");
    assert_string_equal(vc_role_name(VC_ROLE_STAFF | VC_ROLE_SERVICE), "unknown");
    vc_role r = VC_ROLE_STAFF;
    assert_int_equal(vc_role_parse("none", &r), VC_EINVAL);
    assert_int_equal(vc_role_parse("STAFF", &r), VC_EINVAL);
    assert_int_equal(vc_role_parse(NULL, &r), VC_EINVAL);
    assert_int_equal(r, VC_ROLE_STAFF);
}

#define THREADS 8
#define ROUNDS  300

typedef struct thread_arg {
    vc_auth *a;
    int id;
    int failures;
} thread_arg;

static void *hammer(void *p)
{
    thread_arg *t = p;
    static const unsigned char other[] = "another-key-0123456789-abcdefghijk";
    vc_auth *wrong = NULL;
    if (vc_auth_new(other, sizeof(other) - 1, &wrong) != 0) t->failures++;
    for (int i = 0; i < ROUNDS; i++) {
        vc_caller c = {.role = VC_ROLE_CUSTOMER, .owner = (i % 2) == 0, .finance = (i % 3) == 0};
        snprintf(c.subject, sizeof(c.subject), "user-%d-%d", t->id, i);
        snprintf(c.reseller_id, sizeof(c.reseller_id), "r-%d", t->id);
        snprintf(c.customer_id, sizeof(c.customer_id), "c-%d", i);
        char *tok = NULL;
        char hdr[4096];
        vc_caller got;
        if (vc_auth_mint(t->a, &c, 60, &tok) != 0) {
            t->failures++;
            continue;
        }
        snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
        if (vc_auth_verify(t->a, hdr, &got, NULL) != 0 || !same_caller(&got, &c)) t->failures++;
        if (vc_auth_verify(wrong, hdr, &got, NULL) != VC_EAUTH) t->failures++;
        free(tok);
    }
    vc_auth_free(wrong);
    return NULL;
}

static void test_concurrency(void **state)
{
    pthread_t th[THREADS];
    thread_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (thread_arg){.a = *state, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_every_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mint_rejects_bad_callers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_and_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_algorithm_attacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_bad_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bearer_parsing, setup, teardown),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_role_names),
        cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
