/*
 * Multi-device login policy (seed inventory §3.3, the *intended* rules).
 * Pure logic, no state: given the devices a user already has online and a
 * new login, decide which existing devices must be kicked (9002 + close).
 *
 * Classes: WEBAPI (0) = server-side API client, never kicks and is never
 * kicked; WEB (1); MOBILE = iOS (2), Android (3); DESKTOP = Windows (4),
 * Mac (5).
 *
 * Modes:
 *   1 ONE   one device at all: every other device is kicked.
 *   2 TWO   one non-web device (mobile or desktop) + any number of web:
 *           a new mobile/desktop login kicks every other mobile/desktop.
 *   3 THREE one mobile + one desktop + any number of web: a new mobile kicks
 *           the other mobiles, a new desktop the other desktops.
 *   4 ALL   no mutual exclusion.
 * In every mode:
 *   - an existing device with the same clientType AND imei is the same device
 *     logging in again: it is always replaced (kicked);
 *   - max_per_platform > 0 caps devices per clientType: when the new login
 *     would exceed it, the oldest devices of that clientType are kicked.
 */
#ifndef PETREL_POLICY_H
#define PETREL_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum policy_mode {
    POLICY_ONE = 1,
    POLICY_TWO = 2,
    POLICY_THREE = 3,
    POLICY_ALL = 4,
};

typedef struct policy_dev {
    int client_type;
    const char *imei;      /* NUL-terminated */
    int64_t login_ms;      /* login time; smaller = older */
} policy_dev_t;

/* 1 if mode is one of enum policy_mode. */
int policy_mode_valid(int mode);

/* Decide the victims.  kick[i] is set to 1 for each existing[i] to kick, 0
 * otherwise.  Returns the number of devices kicked, or -1 on bad arguments
 * (invalid mode or client type outside 0..5). */
int policy_victims(int mode, int max_per_platform, int new_client_type,
                   const char *new_imei, const policy_dev_t *existing,
                   size_t n_existing, uint8_t *kick);

#endif
