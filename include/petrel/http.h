/*
 * libpetrel HTTP: a small blocking HTTP/1.1 client for petrel's REST API.
 *
 * One call = one connection: connect (within the timeout), send one POST
 * with a Content-Length body and "Connection: close", read the response and
 * parse it with http-parser (status line, headers, a Content-Length,
 * chunked or read-until-close body), then close.  No keep-alive, no TLS,
 * no redirects: the REST API is on a trusted local port and the callers
 * (the `petrel` CLI, tools, tests) make a handful of calls.
 *
 * Sizes are bounded: response headers by http-parser (80 KiB), the body by
 * PETREL_HTTP_MAX_BODY; the whole exchange by timeout_ms.  Thread-safe (no
 * shared state); SIGPIPE is avoided with MSG_NOSIGNAL.
 *
 * Return convention as in client.h: 0, or a negative errno value.
 */
#ifndef PETREL_HTTP_H
#define PETREL_HTTP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PETREL_HTTP_MAX_BODY ((size_t)8 << 20)  /* 8 MiB */

/* POSTs json_body (NULL = empty body) to url + path_with_query, where url
 * is "http://host[:port][/prefix]" (port default 80, host may be [v6]) and
 * path_with_query starts with '/' (its bytes are sent as given, so encode
 * query values with petrel_http_urlencode).  timeout_ms bounds the whole
 * exchange (<= 0: 10000).  On 0, *status is the HTTP status and *body a
 * malloc'd NUL-terminated copy of the (de-chunked) body of *len bytes; the
 * caller frees it.  On failure *body is NULL and the result is -EINVAL (bad
 * url or path), -EHOSTUNREACH (name lookup), -ECONNREFUSED, -ETIMEDOUT,
 * -EPROTO (malformed response), -EMSGSIZE (body above 8 MiB or headers too
 * large), -ECONNRESET (closed before a complete response), -ENOMEM, ...
 * status, body and len may each be NULL when not wanted. */
int petrel_http_post(const char *url, const char *path_with_query, const char *json_body,
                     int timeout_ms, int *status, char **body, size_t *len);

/* Percent-encodes s for a query value (everything but RFC 3986 unreserved
 * characters).  Returns a malloc'd string, or NULL (errno ENOMEM). */
char *petrel_http_urlencode(const char *s);

#ifdef __cplusplus
}
#endif

#endif
