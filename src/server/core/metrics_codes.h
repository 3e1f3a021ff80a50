/* Slot tables shared by metrics.c (counting) and metrics_render.c: the
 * known error codes are 200 and the rows of petrel/errors.h, in order. */
#ifndef PETREL_METRICS_CODES_H
#define PETREL_METRICS_CODES_H

#include "server/core/metrics.h"

extern const int metrics_known_codes[];
extern const size_t metrics_nknown;
extern const int metrics_statuses[METRICS_NSTATUS];

#endif
