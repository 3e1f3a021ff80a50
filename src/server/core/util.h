/*
 * Small shared helpers: an intrusive doubly-linked list and the clock.
 * Header-only because they are a few lines each and sit on hot paths.
 */
#ifndef PETREL_UTIL_H
#define PETREL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct dlist {
    struct dlist *prev, *next;
} dlist_t;

static inline void dlist_init(dlist_t *h) { h->prev = h->next = h; }
static inline int dlist_empty(const dlist_t *h) { return h->next == h; }
static inline int dlist_linked(const dlist_t *n) { return n->next != NULL; }

static inline void dlist_push_tail(dlist_t *h, dlist_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void dlist_remove(dlist_t *n)
{
    if (!n->next)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* An identifier (user id, message id, imei-like): 1..max bytes, no
 * control characters.  UTF-8 validity is checked by the JSON parser. */
static inline int id_valid(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f || n >= max)
            return 0;
    return n > 0;
}

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next item of a comma-separated list (HTTP header values, settings):
 * skips commas and blanks, returns the item with its trailing blanks cut
 * and its length in *len, and moves *p past it; NULL at the end. */
static inline const char *list_next(const char **p, size_t *len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    const char *e = s;
    while (*e && *e != ',')
        e++;
    const char *te = e;
    while (te > s && (te[-1] == ' ' || te[-1] == '\t'))
        te--;
    *p = e;
    *len = (size_t)(te - s);
    return s;
}

#endif
