/* Gateway node selection (see route.h). */
#include "server/gateway/route.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int route_strategy_parse(const char *s)
{
    if (!strcmp(s, "random"))
        return ROUTE_RANDOM;
    if (!strcmp(s, "round_robin"))
        return ROUTE_ROUND_ROBIN;
    if (!strcmp(s, "hash"))
        return ROUTE_HASH;
    return -1;
}

uint32_t route_hash(const char *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(s, strlen(s), md, &len, EVP_md5(), NULL) || len < 4)
        return 0;
    return (uint32_t)md[0] | (uint32_t)md[1] << 8 | (uint32_t)md[2] << 16 | (uint32_t)md[3] << 24;
}

int route_pick(int strategy, const char *const *nodes, size_t n, const char *user_id,
               uint64_t *counter)
{
    if (n == 0)
        return -1;
    if (n == 1)
        return 0;
    switch (strategy) {
    case ROUTE_RANDOM: {
        uint32_t r;
        if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
            r = (uint32_t)rand();
        return (int)(r % n);
    }
    case ROUTE_ROUND_ROBIN:
        return (int)(__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED) % n);
    default: {
        uint32_t key = route_hash(user_id ? user_id : "");
        int best = -1, lowest = -1;
        uint32_t best_pt = 0, lowest_pt = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
            uint32_t hn = route_hash(nodes[i]);
            uint32_t pts[3];
            pts[0] = hn;
            for (int v = 0; v < 2; v++) {
                char buf[600];
                snprintf(buf, sizeof buf, "%s%u%d", nodes[i], hn, v);
                pts[v + 1] = route_hash(buf);
            }
            for (int k = 0; k < 3; k++) {
                if (pts[k] >= key && (best < 0 || pts[k] < best_pt)) {
                    best = (int)i;
                    best_pt = pts[k];
                }
                if (lowest < 0 || pts[k] < lowest_pt) {
                    lowest = (int)i;
                    lowest_pt = pts[k];
                }
            }
        }
        return best >= 0 ? best : lowest;
    }
    }
}

size_t route_split(const char *list, char *buf, size_t buf_cap, const char **out, size_t max)
{
    size_t n = 0, o = 0;
    const char *p = list;
    while (*p && n < max) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t len = (size_t)(e - p);
        if (len && o + len + 1 <= buf_cap && memchr(p, ':', len)) {
            memcpy(buf + o, p, len);
            buf[o + len] = '\0';
            out[n++] = buf + o;
            o += len + 1;
        }
        p = e;
    }
    return n;
}

/* "0.0.0.0:9000" -> "127.0.0.1:9000": a wildcard bind is not an address a
 * client can dial; standalone deployments get loopback. */
void route_public_from_listen(const char *listen, char *out, size_t cap)
{
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        out[0] = '\0';
        return;
    }
    size_t hl = (size_t)(colon - listen);
    if (hl == 0 || (hl == 7 && !strncmp(listen, "0.0.0.0", 7)) ||
        (hl == 4 && !strncmp(listen, "[::]", 4)))
        snprintf(out, cap, "127.0.0.1%s", colon);
    else
        snprintf(out, cap, "%s", listen);
}
