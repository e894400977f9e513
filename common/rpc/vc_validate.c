#include "rpc/vc_validate.h"

#include <string.h>

long vc_utf8_chars(const char *s, bool multiline)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f)
                return VC_TEXT_CONTROL;
            p++;
            n++;
            continue;
        }
        /* Stray continuation bytes, overlong C0/C1 leads and leads beyond U+10FFFF. */
        if (c < 0xc2 || c > 0xf4)
            return VC_TEXT_BAD_UTF8;
        unsigned more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1; /* continuation bytes */
        unsigned cp = c & (0x3fu >> more);                 /* payload bits of the lead */
        for (unsigned i = 1; i <= more; i++) {             /* a NUL fails the test: no overread */
            if ((p[i] & 0xc0) != 0x80)
                return VC_TEXT_BAD_UTF8;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return VC_TEXT_BAD_UTF8;
        p += more + 1;
        n++;
    }
    return n;
}

int vc_validate_text(vc_rpc_ctx *ctx, const char *field, const char *s, long max_chars,
                     bool required, bool multiline)
{
    if (!s || !*s)
        return required ? vc_rpc_invalid(ctx, field, "is required") : VC_GRPC_OK;
    long n = vc_utf8_chars(s, multiline);
    if (n == VC_TEXT_BAD_UTF8)
        return vc_rpc_invalid(ctx, field, "is not valid UTF-8");
    if (n == VC_TEXT_CONTROL)
        return vc_rpc_invalid(ctx, field, "must not contain control characters");
    if (n > max_chars)
        return vc_rpc_invalid(ctx, field, "must be at most %ld characters", max_chars);
    return VC_GRPC_OK;
}

static bool vc__token_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == ':' || ch == '@';
}

int vc_validate_token(vc_rpc_ctx *ctx, const char *field, const char *s, size_t max,
                      bool required)
{
    if (!s || !*s)
        return required ? vc_rpc_invalid(ctx, field, "is required") : VC_GRPC_OK;
    size_t n = strlen(s);
    if (n > max)
        return vc_rpc_invalid(ctx, field, "must be at most %zu characters", max);
    for (size_t i = 0; i < n; i++)
        if (!vc__token_char(s[i]))
            return vc_rpc_invalid(ctx, field, "may contain only letters, digits and - _ . : @");
    return VC_GRPC_OK;
}
