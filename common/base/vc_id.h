/*
 * vc_id.h - identifiers.
 *
 * Entity ids are "<prefix>_<26 chars>": 48 bits of millisecond time then 80 random bits (from
 * the kernel CSPRNG), in Crockford base32. They sort by creation time, which keeps B-tree
 * inserts local, and are unguessable. Message ids (outbox/inbox) are RFC 4122 version-4 UUIDs.
 * Thread-safe; no allocation.
 */
#ifndef VC_ID_H
#define VC_ID_H

#include <stddef.h>

/* Longest id vc_id_new makes with a prefix of up to 8 characters, plus the NUL. */
#define VC_ID_MAX 40
#define VC_UUID_LEN 37 /* 36 characters + NUL */

/* Writes "<prefix>_<ulid>" into out[VC_ID_MAX]. 0, VC_EINVAL (prefix longer than 8), VC_EIO
   (no randomness). */
int vc_id_new(char out[VC_ID_MAX], const char *prefix);
/* Writes a random UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") into out[VC_UUID_LEN]. */
int vc_uuid_new(char out[VC_UUID_LEN]);
/* Fills buf with n bytes from the kernel CSPRNG. 0 or VC_EIO. */
int vc_random_bytes(void *buf, size_t n);

#endif
