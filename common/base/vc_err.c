#include "base/vc_err.h"

#include <string.h>

const char *vc_strerror(int err)
{
    switch (err) {
    case VC_OK: return "ok";
    case VC_EDB: return "database error";
    case VC_EDB_UNAVAILABLE: return "database unavailable";
    case VC_ESCHEMA_NEWER: return "database schema is newer than this binary";
    case VC_ESCHEMA_PENDING: return "database schema has pending migrations (run --migrate)";
    case VC_ECONFLICT: return "conflicting concurrent update";
    case VC_EAUTH: return "authentication failed";
    default: break;
    }
    if (err < 0 && err > -1000)
        return strerror(-err);
    return "unknown error";
}
