/*
 * Installing the network layer on a runtime: a worker hook that opens the
 * worker's listeners (SO_REUSEPORT, tcp.c) when it starts, closes them
 * when it stops, and frees net's per-worker state (net_worker_t, in a
 * worker_t.ext slot) after its thread is gone.
 */
#include "server/net/net_int.h"

#include "server/core/log.h"

#include <stdlib.h>

static int net_worker_init(worker_t *w, void *arg)
{
    net_t *n = arg;
    const config_t *cfg = &w->rt->cfg;
    net_worker_t *nw = calloc(1, sizeof *nw);
    if (!nw)
        return -1;
    w->ext[n->ext_slot] = nw;
    if (cfg->tcp_listen[0]) {
        if (!w->rt->proto) {
            LOGE("no socket protocol installed for the TCP port", "addr=%s", cfg->tcp_listen);
            return -1;
        }
        if (net_listen(w, &nw->tcp, cfg->tcp_listen, CONN_TCP) < 0)
            return -1;
    }
    if (cfg->http_listen[0] && net_listen(w, &nw->http, cfg->http_listen, CONN_HTTP) < 0)
        return -1;
    return 0;
}

static void net_worker_stop(worker_t *w, void *arg)
{
    (void)arg;
    net_worker_t *nw = net_worker(w);
    if (!nw)
        return;
    net_listener_close(nw->tcp);
    net_listener_close(nw->http);
    nw->tcp = nw->http = NULL;
}

static void net_worker_release(worker_t *w, void *arg)
{
    net_t *n = arg;
    if (!w->ext[n->ext_slot])
        return;
    ws_worker_free(w);
    free(w->ext[n->ext_slot]);
    w->ext[n->ext_slot] = NULL;
}

static const worker_hooks_t net_hooks = {
    .name = "net",
    .init = net_worker_init,
    .stop = net_worker_stop,
    .free = net_worker_release,
};

int net_install(runtime_t *rt, net_t *n)
{
    rt->net = n;
    n->ext_slot = runtime_add_worker_hooks(rt, &net_hooks, n);
    return n->ext_slot < 0 ? -1 : 0;
}

int net_worker_port(const worker_t *w, uint8_t kind)
{
    net_worker_t *nw = w->rt->net ? net_worker(w) : NULL;
    if (!nw)
        return -1;
    return net_listener_port(kind == CONN_TCP ? nw->tcp : nw->http);
}
