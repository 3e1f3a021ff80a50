/*
 * The socket adapters' use-case jobs (see cmd_job.h): recording the
 * result, the hop back to the connection's worker, the answer and the
 * free.
 */
#include "server/gateway/cmd_job.h"

#include "server/im/server.h"

#include <stdlib.h>
#include <string.h>

void cmd_send_obj(conn_t *c, int32_t command, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        conn_send_json(c, command, s, strlen(s));
    free(s);
    json_decref(o);
}

void cmd_job_init(cmd_job_t *j, conn_t *c, void (*answer)(conn_t *c, cmd_job_t *j),
                  void (*free_fn)(cmd_job_t *j), int counted)
{
    j->srv = c->w->srv;
    j->worker = c->w->idx;
    j->conn_id = c->id;
    j->answer = answer;
    j->release = free_fn;
    j->counted = counted;
}

/* On the connection's worker, after the commit. */
static void committed(worker_t *w, void *arg)
{
    cmd_job_t *j = arg;
    if (j->counted)
        conn_op_done(w, j->conn_id);
    conn_t *c = connmap_get(&w->conns, j->conn_id);
    if (cmd_conn_live(c))
        j->answer(c, j);
    j->release(j);
}

void cmd_job_done(void *arg, const im_result_t *r)
{
    cmd_job_t *j = arg;
    j->r = *r;
    if (r->deferred && worker_post(j->srv, j->worker, committed, j) < 0)
        j->release(j);
}

void cmd_job_answer_now(conn_t *c, cmd_job_t *j)
{
    j->answer(c, j);
    j->release(j);
}
