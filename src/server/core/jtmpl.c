/*
 * JSON templates (jtmpl.h): render with placeholders once, splice numbers
 * in later.  See the header for why the placeholder search cannot be
 * fooled by string values.
 */
#include "server/core/jtmpl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jtmpl_make(jtmpl_t *t, const json_t *o, const char *const *keys, int n)
{
    memset(t, 0, sizeof *t);
    if (n < 0 || n > JTMPL_MAX)
        return -1;
    char *txt = json_dumps(o, JSON_COMPACT);
    if (!txt)
        return -1;
    size_t len = strlen(txt), from = 0;
    char pat[160];
    for (int i = 0; i < n; i++) {
        int pl = snprintf(pat, sizeof pat, "\"%s\":%" PRId64, keys[i],
                          (int64_t)(JTMPL_HOLE + i));
        if (pl <= 0 || (size_t)pl >= sizeof pat)
            goto fail;
        const char *hit = strstr(txt + from, pat);
        if (!hit)
            goto fail;
        size_t key_len = strlen(keys[i]) + 3; /* "key": */
        t->at[i] = (size_t)(hit - txt) + key_len;
        t->hole_len = (size_t)pl - key_len;
        from = t->at[i] + t->hole_len;
    }
    t->txt = txt;
    t->len = len;
    t->n = n;
    return 0;
fail:
    free(txt);
    return -1;
}

char *jtmpl_fill(const jtmpl_t *t, const int64_t *vals, size_t *len)
{
    if (!t->txt)
        return NULL;
    /* each value takes at most 20 characters, a placeholder 19 */
    char *out = malloc(t->len + (size_t)t->n * 2 + 1);
    if (!out)
        return NULL;
    size_t o = 0, from = 0;
    for (int i = 0; i < t->n; i++) {
        memcpy(out + o, t->txt + from, t->at[i] - from);
        o += t->at[i] - from;
        o += (size_t)sprintf(out + o, "%" PRId64, vals[i]);
        from = t->at[i] + t->hole_len;
    }
    memcpy(out + o, t->txt + from, t->len - from);
    o += t->len - from;
    out[o] = '\0';
    *len = o;
    return out;
}

void jtmpl_free(jtmpl_t *t)
{
    free(t->txt);
    memset(t, 0, sizeof *t);
}
