/*
 * vc_err.h - the error vocabulary of libvcommon.
 *
 * Every libvcommon function that can fail returns 0 on success or a negative VC_E* code (the
 * libuv convention). Codes are negated errno values where one fits, and a few of our own below
 * -1000. Nothing here allocates; vc_strerror() returns a static string.
 */
#ifndef VC_ERR_H
#define VC_ERR_H

#include <errno.h>

enum {
    VC_OK = 0,
    VC_ENOMEM = -ENOMEM,
    VC_EINVAL = -EINVAL,
    VC_ENOENT = -ENOENT,
    VC_EIO = -EIO,
    VC_ETIMEDOUT = -ETIMEDOUT,
    VC_EAGAIN = -EAGAIN,     /* transient: retrying the same operation may succeed */
    VC_ECANCELED = -ECANCELED,
    VC_EOVERFLOW = -EOVERFLOW,
    VC_EEXIST = -EEXIST,
    VC_EPERM = -EPERM,
    VC_EDB = -1001,          /* database error that retrying will not fix */
    VC_EDB_UNAVAILABLE = -1002, /* database unreachable / connection lost */
    VC_ESCHEMA_NEWER = -1003,   /* database schema is newer than this binary */
    VC_ESCHEMA_PENDING = -1004, /* database schema lacks migrations this binary needs */
    VC_ECONFLICT = -1005,       /* a conditional update matched nothing (lost a race) */
    VC_EAUTH = -1006,           /* missing, malformed, expired or badly signed credentials */
};

/* Static, human-readable text for a VC_E* code (or any negated errno). Never NULL. */
const char *vc_strerror(int err);

#endif
