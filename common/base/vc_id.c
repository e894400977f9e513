#include "base/vc_id.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/vc_err.h"

int vc_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return VC_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static const char vc__b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int vc_id_new(char out[VC_ID_MAX], const char *prefix)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen > 8)
        return VC_EINVAL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    unsigned char b[16];
    for (int i = 5; i >= 0; i--) {
        b[i] = (unsigned char)(ms & 0xff);
        ms >>= 8;
    }
    if (vc_random_bytes(b + 6, 10) != 0)
        return VC_EIO;
    char *o = out;
    if (plen) {
        memcpy(o, prefix, plen);
        o += plen;
        *o++ = '_';
    }
    /* 128 bits → 26 base32 digits (the first carries 3 bits). */
    unsigned bits = 0, acc = 0, idx = 0;
    int pad = 2; /* 130 - 128: left-pad with two zero bits */
    acc = 0;
    bits = (unsigned)pad;
    for (int i = 0; i < 16; i++) {
        acc = (acc << 8) | b[i];
        bits += 8;
        while (bits >= 5) {
            o[idx++] = vc__b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    o[idx] = '\0';
    return 0;
}

int vc_uuid_new(char out[VC_UUID_LEN])
{
    unsigned char b[16];
    if (vc_random_bytes(b, sizeof(b)) != 0)
        return VC_EIO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, VC_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}
