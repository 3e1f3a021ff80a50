/*
 * Metric families keyed by error code and by HTTP route/status: map a key
 * to its fixed slot (see metrics.h).  Rendering is in metrics_render.c.
 */
#include "server/core/metrics.h"

#include "server/core/metrics_codes.h"


/* Codes counted one by one: 200, then the rows of petrel/errors.h in their
 * order (slot 1 + row index); anything else lands in "other" (last slot). */
const int metrics_known_codes[] = {
    PETREL_OK,
#define METRICS_CODE_(name, code, http, origin, text) code,
    PETREL_ERRORS(METRICS_CODE_)
#undef METRICS_CODE_
};
const size_t metrics_nknown = sizeof metrics_known_codes / sizeof metrics_known_codes[0];
_Static_assert(sizeof metrics_known_codes / sizeof metrics_known_codes[0] + 1 == METRICS_NCODES,
               "one slot per known code, and one for the others");

const int metrics_statuses[METRICS_NSTATUS] = {200, 400, 401, 403, 404, 405, 413, 414, 429, 500, 0};

void metrics_error(metrics_t *m, int code)
{
    int row = petrel_err_index(code);
    size_t i = code == PETREL_OK ? 0 : row < 0 ? metrics_nknown : (size_t)row + 1;
    atomic_fetch_add_explicit(&m->errors_by_code[i], 1, memory_order_relaxed);
}

void metrics_http(metrics_t *m, int route, int status)
{
    atomic_fetch_add_explicit(&m->http_requests, 1, memory_order_relaxed);
    if (route < 0 || route >= METRICS_MAX_ROUTES)
        route = METRICS_MAX_ROUTES - 1;
    int i;
    for (i = 0; i < METRICS_NSTATUS - 1; i++)
        if (metrics_statuses[i] == status)
            break;
    atomic_fetch_add_explicit(&m->http_by_route[route][i], 1, memory_order_relaxed);
}

