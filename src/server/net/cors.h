/*
 * CORS for the REST API: lets a web front end served from another origin
 * call /v1 and /app/v1.  Off unless cors_origins lists origins; only an
 * Origin equal to a listed one (scheme://host[:port], ASCII case-insensitive)
 * is ever echoed in Access-Control-Allow-Origin.  No wildcard, no
 * credentials (authentication is the userSign in the query, not a cookie),
 * and the "null" origin is never allowed.
 */
#ifndef PETREL_CORS_H
#define PETREL_CORS_H

#include <stddef.h>

#include "server/net/http.h"

/* 1 if origin is in the comma-separated allow-list, else 0. */
int cors_origin_allowed(const char *list, const char *origin);

/* Headers for an ordinary answer to req, written into out as complete
 * "Name: value\r\n" lines ("" when CORS is off).  Returns the length, or
 * 0 with out = "" if they do not fit. */
size_t cors_response_headers(const http_req_t *req, char *out, size_t cap);

/* Answer an OPTIONS request on a REST path whose methods are `methods`
 * (e.g. "GET, POST"): a preflight is granted (204 with the Allow-*
 * headers) or refused (403, 62061/62062); 405 when CORS is off. */
void cors_preflight(http_req_t *req, const char *methods);

#endif
