/*
 * JSON templates: a JSON object rendered once by jansson with placeholder
 * integers at a few keys, whose real values are spliced in later by plain
 * string copies.  Used where the text must be produced on a hot serial
 * path (the store writer's fan-out) but everything except a few numbers is
 * known earlier, on a thread with time to spare.
 *
 * Why it is safe: jansson escapes every '"' inside a string value as \",
 * so the pattern "key": followed by a placeholder can only occur where
 * the object really has that key.  The text stays exactly what jansson
 * would have produced with the real values (tests/unit/test_jtmpl.c).
 */
#ifndef PETREL_JTMPL_H
#define PETREL_JTMPL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define JTMPL_MAX 4
/* Placeholder for slot i: JTMPL_HOLE + i (set it in the object yourself,
 * e.g. json_integer(JTMPL_HOLE + 0)). */
#define JTMPL_HOLE 7700000000000000000LL

typedef struct jtmpl {
    char *txt;              /* NULL: empty template */
    size_t len;
    int n;
    size_t at[JTMPL_MAX];   /* where slot i's placeholder digits start */
    size_t hole_len;        /* digits of a placeholder */
} jtmpl_t;

/* Render o (compact) and find keys[i]'s placeholder JTMPL_HOLE + i for each
 * i < n (n <= JTMPL_MAX; the keys must appear in o in this order).  -1 if
 * rendering fails or a placeholder is missing (t is then empty). */
int jtmpl_make(jtmpl_t *t, const json_t *o, const char *const *keys, int n);

/* The text with vals[0..n) in place of the placeholders, malloc'ed and
 * NUL-terminated; *len = its length.  NULL on allocation failure. */
char *jtmpl_fill(const jtmpl_t *t, const int64_t *vals, size_t *len);

void jtmpl_free(jtmpl_t *t);

#endif
