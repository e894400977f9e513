#include "db/vc_idem.h"

#include <stdlib.h>
#include <string.h>

#include "base/vc_err.h"
#include "base/vc_time.h"

/* Packs a message into the arena (or malloc when arena is NULL). */
static unsigned char *vc__pack(const ProtobufCMessage *m, vc_arena *a, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    unsigned char *buf = a ? vc_arena_alloc(a, *len ? *len : 1) : malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(m, buf);
    return buf;
}

int vc_idem_begin(vc_db_conn *c, const char *tenant, const char *method, const char *request_id,
                  const ProtobufCMessage *request, vc_arena *arena,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **replay)
{
    size_t len;
    unsigned char *req = vc__pack(request, arena, &len);
    if (!req)
        return VC_ENOMEM;
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT request_hash = SHA2(?, 256), response FROM request_log "
                         "WHERE tenant_id = ? AND method = ? AND request_id = ?",
                         VC_DB_ARGS(vc_db_blob(req, len), vc_db_str(tenant), vc_db_str(method),
                                    vc_db_str(request_id)),
                         &rows);
    if (rc < 0)
        return rc;
    rc = vc_db_next(rows);
    if (rc <= 0) {
        vc_db_rows_close(rows);
        return rc; /* 0: new request */
    }
    int64_t same = 0;
    vc_db_get_i64(rows, 0, &same);
    if (!same) {
        vc_db_rows_close(rows);
        return VC_IDEM_MISMATCH;
    }
    const char *blob;
    size_t blen = 0;
    rc = vc_db_get_str(rows, 1, &blob, &blen);
    if (rc == 0) {
        *replay = protobuf_c_message_unpack(resp_desc, vc_arena_allocator(arena), blen,
                                            (const uint8_t *)blob);
        rc = *replay ? VC_IDEM_REPLAY : VC_EIO;
    }
    vc_db_rows_close(rows);
    return rc;
}

int vc_idem_finish(vc_db_conn *c, const char *tenant, const char *method, const char *request_id,
                   const ProtobufCMessage *request, const ProtobufCMessage *response)
{
    size_t qlen, rlen;
    unsigned char *req = vc__pack(request, NULL, &qlen);
    unsigned char *resp = vc__pack(response, NULL, &rlen);
    int rc = VC_ENOMEM;
    if (req && resp)
        rc = vc_db_exec(c,
                        "INSERT INTO request_log (tenant_id, method, request_id, request_hash, "
                        "response, created_us) VALUES (?, ?, ?, SHA2(?, 256), ?, ?)",
                        VC_DB_ARGS(vc_db_str(tenant), vc_db_str(method), vc_db_str(request_id),
                                   vc_db_blob(req, qlen), vc_db_blob(resp, rlen),
                                   vc_db_i64(vc_now_us())),
                        NULL);
    free(req);
    free(resp);
    return rc;
}
