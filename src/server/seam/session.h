/*
 * Session registry: who is online, on which connection.  Keyed by
 * (appId, userId); each entry holds the user's devices (clientType, imei,
 * connection id, login time).  The registry only ever holds live, logged-in
 * connections: a connection removes itself when it closes, and a login that
 * breaks the app's multi-device policy removes (and returns) its victims in
 * the same atomic step.
 *
 * This is an interface: session_local.c implements it in process (striped
 * locks); a Redis-backed implementation for cluster mode plugs in through
 * the same ops table.  Connection ids carry the owning worker in their top
 * byte (see conn_id_worker()), so a victim can be kicked on its own loop.
 */
#ifndef PETREL_SESSION_H
#define PETREL_SESSION_H

#include <stddef.h>
#include <stdint.h>

typedef struct sess_device {
    int32_t app_id;
    int client_type;
    int64_t login_ms;
    uint64_t conn_id;
    uint32_t node;     /* the node holding the connection: 0 = this one (one
                        * node), else a cluster incarnation (cluster/node.h) */
    char *user_id;     /* owned by whoever holds the copy */
    char *imei;
} sess_device_t;

typedef struct sess_login {
    int32_t app_id;
    const char *user_id;
    int client_type;
    const char *imei;
    int64_t login_ms;
    uint64_t conn_id;
    int policy_mode;        /* policy_mode 1..4 */
    int max_per_platform;
    int max_devices;        /* devices per user after the policy's kicks, 0 = no cap */
    size_t *n_after;        /* optional out: the user's devices right after the login,
                             * decided in the same atomic step (first device online) */
    int *flapped;           /* optional out (a registry shared by nodes): the user's
                             * last device left, on any node, within the presence
                             * debounce: that offline was never told */
} sess_login_t;

#define SESS_ETOOMANY (-2)

typedef struct sess_registry sess_registry_t;

typedef struct sess_ops {
    /* Register a device; the devices to kick are removed and returned as
     * a malloc'ed array (free with sess_devices_free).  0, -1, or
     * SESS_ETOOMANY (nothing changed) when the user would keep
     * max_devices devices besides the new one. */
    int (*login)(sess_registry_t *r, const sess_login_t *req,
                 sess_device_t **victims, size_t *n_victims);
    /* Remove the device bound to conn_id (no-op if it is not there).
     * Returns 2 if removed and it was the user's last device (decided in
     * the same atomic step: of two devices leaving at once on two nodes,
     * exactly one is last), 1 if removed and others remain, 0 if not
     * found, -1 when the registry could not be reached. */
    int (*remove)(sess_registry_t *r, int32_t app_id, const char *user_id, uint64_t conn_id);
    /* Copies of a user's devices.  0 or -1. */
    int (*list)(sess_registry_t *r, int32_t app_id, const char *user_id,
                sess_device_t **out, size_t *n);
    /* Online devices in total, and users with at least one device. */
    void (*count)(sess_registry_t *r, uint64_t *devices, uint64_t *users);
    void (*destroy)(sess_registry_t *r);
    /* Optional (NULL: call list per user): the devices of n users at once
     * (one Redis pipeline), out[i] / nout[i] as list() gives them (free
     * each with sess_devices_free); a user whose lookup failed gets none.
     * 0, or -1 when nothing could be looked up. */
    int (*list_many)(sess_registry_t *r, const int32_t *app_ids, const char *const *user_ids,
                     size_t n, sess_device_t **out, size_t *nout);
} sess_ops_t;

struct sess_registry {
    const sess_ops_t *ops;
};

sess_registry_t *sess_local_new(void);
/* Every device of a sess_local_new() registry: fn is called for each, under
 * the lock of its stripe (the device's strings live only during the call;
 * fn must not call back into r). */
void sess_local_each(sess_registry_t *r, void (*fn)(void *ctx, const sess_device_t *d), void *ctx);

void sess_devices_free(sess_device_t *d, size_t n);

static inline unsigned conn_id_worker(uint64_t conn_id)
{
    return (unsigned)(conn_id >> 56);
}

#endif
