#include "outbox/vc_outbox.h"

#include <stdlib.h>
#include <string.h>

#include "base/vc_err.h"
#include "base/vc_time.h"

int vc_outbox_put(vc_db_conn *c, const char *topic, const ProtobufCMessage *payload,
                  char message_id[VC_UUID_LEN])
{
    char id[VC_UUID_LEN];
    int rc = vc_uuid_new(id);
    if (rc == 0)
        rc = vc_outbox_put_id(c, topic, payload, id);
    if (rc == 0 && message_id)
        memcpy(message_id, id, VC_UUID_LEN);
    return rc;
}

int vc_outbox_put_id(vc_db_conn *c, const char *topic, const ProtobufCMessage *payload,
                     const char message_id[VC_UUID_LEN])
{
    const char *id = message_id;
    int rc;
    size_t len = protobuf_c_message_get_packed_size(payload);
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return VC_ENOMEM;
    protobuf_c_message_pack(payload, buf);
    rc = vc_db_exec(c,
                    "INSERT INTO outbox (message_id, topic, payload) VALUES (?, ?, ?)",
                    VC_DB_ARGS(vc_db_str(id), vc_db_str(topic), vc_db_blob(buf, len)), NULL);
    free(buf);
    return rc;
}

int vc_outbox_pending(vc_db_conn *c, int64_t *count)
{
    return vc_db_query_i64(c, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL",
                           VC_DB_NOARGS, count);
}
