#include "rpc/vc_page.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char vc__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int vc__b64_val(char ch)
{
    const char *p = ch ? strchr(vc__b64, ch) : NULL;
    return p ? (int)(p - vc__b64) : -1;
}

char *vc_page_token(vc_arena *a, int64_t key, const char *id)
{
    char raw[128];
    int n = snprintf(raw, sizeof(raw), "v1|%" PRId64 "|%s", key, id);
    if (n < 0 || (size_t)n >= sizeof(raw))
        return NULL;
    char *out = vc_arena_alloc(a, (size_t)n * 4 / 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    for (int i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)raw[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)raw[i + 2];
        out[o++] = vc__b64[(v >> 18) & 63];
        out[o++] = vc__b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = vc__b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = vc__b64[v & 63];
    }
    out[o] = '\0';
    return out;
}

static bool vc__decode(const char *tok, vc_page *out)
{
    char raw[128];
    size_t n = 0, len = strlen(tok);
    if (len > 160)
        return false;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = vc__b64_val(tok[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= sizeof(raw))
                return false;
            raw[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    raw[n] = '\0';
    if (strncmp(raw, "v1|", 3) != 0)
        return false;
    char *end;
    long long key = strtoll(raw + 3, &end, 10);
    if (end == raw + 3 || *end != '|')
        return false;
    const char *id = end + 1;
    size_t idlen = strlen(id);
    if (idlen == 0 || idlen > VC_PAGE_ID_MAX)
        return false;
    /* Ids are tokens (letters, digits, - _ . : @): a forged cursor never reaches SQL as
       anything else. */
    for (size_t i = 0; i < idlen; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@", id[i]))
            return false;
    out->key = key;
    memcpy(out->id, id, idlen + 1);
    out->has_cursor = true;
    return true;
}

int vc_page_parse(vc_rpc_ctx *ctx, int32_t page_size, const char *page_token, vc_page *out)
{
    memset(out, 0, sizeof(*out));
    if (page_size < 0 || page_size > VC_PAGE_MAX_SIZE)
        return vc_rpc_invalid(ctx, "page_size", "must be between 0 and %d", VC_PAGE_MAX_SIZE);
    out->limit = page_size ? page_size : VC_PAGE_DEFAULT_SIZE;
    if (page_token && *page_token && !vc__decode(page_token, out))
        return vc_rpc_invalid(ctx, "page_token", "is not a token this service issued");
    return VC_GRPC_OK;
}
