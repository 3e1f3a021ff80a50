/*
 * Metric families keyed by error code and by HTTP route/status: map a key
 * to its fixed slot (see metrics.h).  Rendering is in metrics_render.c.
 */
#include "server/core/metrics.h"

#include "server/core/metrics_codes.h"


/* Codes we count individually; anything else lands in "other" (last slot). */
const int metrics_known_codes[] = {
    200, 500, 90000, 90001, 20000, 20001, 20002, 20003, 20004, 71000,
    60000, 60001, 60002, 60003, 60004, 60005, 60006,
    61000, 61001, 61002, 61003, 61004, 61005, 61006, 61007, 61008, 61009,
    61010, 61011, 61012, 61013, 61014, 61015, 61016,
    10000, 10001, 10002, 10003, 10004,
    62000, 62001, 62002, 62003, 62004, 62020, 62021, 62022, 62040, 62041,
    62060, 62061, 62062, 62080, 62081, 62082, 62083,
    62120, 62121,
    62100, 62101, 62102, 62103, 62104,
};
const size_t metrics_nknown = sizeof metrics_known_codes / sizeof metrics_known_codes[0];
_Static_assert(sizeof metrics_known_codes / sizeof metrics_known_codes[0] < METRICS_NCODES,
               "error code table too large");

const int metrics_statuses[METRICS_NSTATUS] = {200, 400, 401, 403, 404, 405, 413, 414, 429, 500, 0};

void metrics_error(metrics_t *m, int code)
{
    size_t i;
    for (i = 0; i < metrics_nknown; i++)
        if (metrics_known_codes[i] == code)
            break;
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

