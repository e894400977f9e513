/*
 * vc_health.h - grpc.health.v1.Health (Check and Watch) backed by one serving flag.
 *
 * The service runtime flips the flag from its database probe (NOT_SERVING while the database is
 * unreachable) and at shutdown. Check answers for the whole server ("") and for every service
 * name registered with vc_health_add_name; other names get NOT_FOUND, as the protocol says.
 * Watch streams the current status, then every change, without holding a worker thread.
 *
 * Thread-safe. The vc_health object must outlive the RPC server that serves it.
 */
#ifndef VC_HEALTH_H
#define VC_HEALTH_H

#include <stdbool.h>

#include "rpc/vc_rpc_server.h"

typedef struct vc_health vc_health;

/* Starts NOT_SERVING. 0 or VC_ENOMEM. Caller frees with vc_health_free (after the server). */
int vc_health_new(vc_health **out);
void vc_health_free(vc_health *h);
/* Adds a service name that Check/Watch know (copied). */
int vc_health_add_name(vc_health *h, const char *service);
/* Sets the status; watchers are told when it changes. */
void vc_health_set_serving(vc_health *h, bool serving);
bool vc_health_serving(const vc_health *h);
/* The service table to register (public, quiet); data points at h. */
const vc_rpc_service *vc_health_service(vc_health *h);

#endif
