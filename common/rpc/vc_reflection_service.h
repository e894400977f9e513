/*
 * vc_reflection_service.h - the ServerReflection bidi services (v1 and v1alpha) on top of
 * vc_reflection's transport-free answering logic.
 */
#ifndef VC_REFLECTION_SERVICE_H
#define VC_REFLECTION_SERVICE_H

#include "rpc/vc_reflection.h"
#include "rpc/vc_rpc_server.h"

/* Fills out[0] (grpc.reflection.v1.ServerReflection) and out[1] (v1alpha), public and quiet,
   answering from `r` (borrowed: must outlive the server). */
void vc_reflection_services(const vc_reflection *r, vc_rpc_service out[2]);

/* The two fully-qualified service names, for vc_reflection_new's service list. */
extern const char *const vc_reflection_service_names[2];

#endif
