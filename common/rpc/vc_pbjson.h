/*
 * vc_pbjson.h - renders any protobuf-c message as JSON following the proto3 JSON mapping, driven
 * only by the message descriptors (no per-type code), for CLIs and debugging output.
 *
 * The mapping (https://protobuf.dev/programming-guides/proto3/#json), as implemented here:
 *   - field names in lowerCamelCase, computed from the .proto name the way protoc computes
 *     json_name (protobuf-c 1.4 descriptors do not carry json_name);
 *   - int64, uint64, fixed64, sint64, sfixed64 as decimal strings, 32-bit integers as numbers;
 *   - float/double as numbers, non-finite values as "NaN", "Infinity", "-Infinity";
 *   - bytes as standard base64 with padding;
 *   - enums by value name ("VOUCHER_STATUS_ACTIVE"), an unknown number as the number;
 *   - repeated fields as arrays, map fields (repeated XxxEntry{key, value}) as objects;
 *   - fields holding their default value are omitted (0, "", false, empty bytes, enum 0, empty
 *     repeated, unset message), except a set oneof member and a field with explicit presence
 *     (proto2/proto3 `optional` with its has_ flag set), which are always written;
 *   - well-known types: google.protobuf.Timestamp as an RFC 3339 UTC string
 *     ("2024-05-01T08:00:00Z", with 3, 6 or 9 fraction digits when nanos is non-zero),
 *     Duration as "1.500s", FieldMask as "path.one,pathTwo", the wrapper types
 *     (Int64Value, StringValue, ...) as their bare value. A Timestamp or Duration out of the
 *     range the mapping allows is written as a plain object instead of failing. Any, Struct,
 *     Value and ListValue have no special form (the platform's API uses none of them).
 *   - unknown fields are not rendered.
 *
 * Thread-safety: every function is reentrant (no global state); the message is only read.
 * Errors: 0 or a negative VC_E* code from base/vc_err.h.
 */
#ifndef VC_PBJSON_H
#define VC_PBJSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Longest text vc_pbjson_timestamp() writes, NUL included ("9999-12-31T23:59:59.999999999Z"). */
#define VC_PBJSON_TS_MAX 32

/* Builds the JSON value of `msg` (an object, or a string/number for the well-known types that
   map to one). On 0, *out is a new reference: caller releases it with json_decref().
   VC_EINVAL for a NULL message, VC_ENOMEM. */
int vc_pbjson_render(const ProtobufCMessage *msg, json_t **out);

/* The same, serialised with jansson's json_dumps `flags` (e.g. JSON_INDENT(2)). On 0, *out is
   a NUL-terminated malloc'ed string: caller frees. */
int vc_pbjson_dumps(const ProtobufCMessage *msg, size_t flags, char **out);

/* The JSON name of a .proto field name ("face_value_minor" -> "faceValueMinor"), written to
   buf. 0, or VC_EOVERFLOW when buf is too small (buf then holds ""). */
int vc_pbjson_field_name(const char *proto_name, char *buf, size_t n);

/* RFC 3339 UTC text of seconds/nanos since the Unix epoch, as the JSON mapping writes it:
   no fraction when nanos is 0, else 3, 6 or 9 digits. 0; VC_EINVAL outside
   0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z or for nanos outside 0..999999999;
   VC_EOVERFLOW if n < VC_PBJSON_TS_MAX. */
int vc_pbjson_timestamp(int64_t seconds, int32_t nanos, char *buf, size_t n);

/* The inverse, for human input: "2024-05-01T08:00:00Z", with an optional fraction of 1-9
   digits and a "Z" or "+hh:mm"/"-hh:mm" offset (lower-case 't'/'z' accepted), or a bare date
   "2024-05-01" meaning midnight UTC. 0 with *seconds and *nanos set, or VC_EINVAL. */
int vc_pbjson_parse_timestamp(const char *text, int64_t *seconds, int32_t *nanos);

#endif
