/*
 * Multi-device login policy (see policy.h for the rules).  Pure function
 * of its arguments so the exclusion table can be tested exhaustively
 * without sockets; the session layer only applies the verdict.
 *
 * Two passes: first the mode's mutual exclusion plus same-device
 * replacement, then the per-clientType cap, which counts only the devices
 * that survive the first pass (a device already kicked no longer occupies
 * a slot, so the cap never kicks more than it has to).
 */
#include "server/model/policy.h"

#include <string.h>

enum dev_class { CLS_WEBAPI, CLS_WEB, CLS_MOBILE, CLS_DESKTOP };

static enum dev_class class_of(int client_type)
{
    switch (client_type) {
    case 0: return CLS_WEBAPI;
    case 1: return CLS_WEB;
    case 2: case 3: return CLS_MOBILE;
    default: return CLS_DESKTOP; /* 4, 5; callers validated the range */
    }
}

static int type_valid(int client_type)
{
    return client_type >= 0 && client_type <= 5;
}

int policy_mode_valid(int mode)
{
    return mode >= POLICY_ONE && mode <= POLICY_ALL;
}

/* Does a new login of class nc exclude an existing device of class ec
 * under mode?  Neither is WEBAPI here. */
static int excludes(int mode, enum dev_class nc, enum dev_class ec)
{
    switch (mode) {
    case POLICY_ONE:
        return 1;
    case POLICY_TWO:
        return nc != CLS_WEB && ec != CLS_WEB;
    case POLICY_THREE:
        return nc != CLS_WEB && nc == ec;
    default:
        return 0;
    }
}

int policy_victims(int mode, int max_per_platform, int new_client_type,
                   const char *new_imei, const policy_dev_t *existing,
                   size_t n_existing, uint8_t *kick)
{
    if (!policy_mode_valid(mode) || !type_valid(new_client_type) || !new_imei ||
        (n_existing > 0 && (!existing || !kick)))
        return -1;
    for (size_t i = 0; i < n_existing; i++)
        if (!type_valid(existing[i].client_type) || !existing[i].imei)
            return -1;

    if (n_existing > 0)
        memset(kick, 0, n_existing);
    enum dev_class nc = class_of(new_client_type);
    /* Server-side API clients are outside the policy altogether. */
    if (nc == CLS_WEBAPI)
        return 0;

    int kicked = 0;
    size_t same_type_left = 0;
    for (size_t i = 0; i < n_existing; i++) {
        enum dev_class ec = class_of(existing[i].client_type);
        if (ec == CLS_WEBAPI)
            continue;
        if ((existing[i].client_type == new_client_type &&
             strcmp(existing[i].imei, new_imei) == 0) ||
            excludes(mode, nc, ec)) {
            kick[i] = 1;
            kicked++;
        } else if (existing[i].client_type == new_client_type) {
            same_type_left++;
        }
    }

    /* Cap: survivors + the new login must fit; kick the oldest survivors
     * (ties broken by position, earlier = older, to stay deterministic). */
    if (max_per_platform > 0 && same_type_left + 1 > (size_t)max_per_platform) {
        size_t excess = same_type_left + 1 - (size_t)max_per_platform;
        while (excess-- > 0) {
            size_t oldest = n_existing;
            for (size_t i = 0; i < n_existing; i++) {
                if (kick[i] || existing[i].client_type != new_client_type)
                    continue;
                if (oldest == n_existing || existing[i].login_ms < existing[oldest].login_ms)
                    oldest = i;
            }
            if (oldest == n_existing)
                break;
            kick[oldest] = 1;
            kicked++;
        }
    }
    return kicked;
}
