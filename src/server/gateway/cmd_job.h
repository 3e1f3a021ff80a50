/*
 * A socket adapter's job around a message use case (im/msg_send.h): where
 * to answer (the connection's worker and id) and how.  The use case
 * reports at once, on this worker, or later from the store's writer; the
 * job then posts the answer to the connection's worker, looks the
 * connection up again there (it may have closed meanwhile) and answers
 * only a live one.  Either way the job is freed after its answer.  The
 * answers are JSON objects (cmd_send_obj).
 *
 * Use: embed a cmd_job_t first in the job, cmd_job_init, call the use case
 * with cmd_job_done as its done and the job as its arg.  When it returns 1
 * (queued) the job belongs to the writer: do not touch it again (for a
 * counted job, conn_op_queued(c)); when it returns 0, cmd_job_answer_now.
 */
#ifndef PETREL_GATEWAY_CMD_JOB_H
#define PETREL_GATEWAY_CMD_JOB_H

#include <jansson.h>
#include <stdint.h>

#include "server/core/conn.h"
#include "server/im/msg_send.h"

typedef struct cmd_job cmd_job_t;

struct cmd_job {
    server_t *srv;
    unsigned worker;
    uint64_t conn_id;
    im_result_t r;                               /* the use case's result */
    void (*answer)(conn_t *c, cmd_job_t *j);     /* to a live connection */
    void (*release)(cmd_job_t *j);               /* frees the job */
    int counted; /* the store trip counts in the connection's queued ops */
};

/* The use case's caller, from the logged-in connection. */
static inline im_origin_t cmd_origin(const conn_t *c)
{
    return (im_origin_t){c->app_id, c->user_id, c->client_type, c->imei, c->id};
}

/* A connection that may still be answered. */
static inline int cmd_conn_live(const conn_t *c)
{
    return c && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER));
}

/* Send the JSON object o as command's packet to c (takes the reference;
 * NULL or out of memory sends nothing). */
void cmd_send_obj(conn_t *c, int32_t command, json_t *o);

/* counted: the caller calls conn_op_queued when the use case queued the
 * job; conn_op_done follows on the worker (sends). */
void cmd_job_init(cmd_job_t *j, conn_t *c, void (*answer)(conn_t *c, cmd_job_t *j),
                  void (*free_fn)(cmd_job_t *j), int counted);

/* The use case's im_done_fn (arg: the job). */
void cmd_job_done(void *arg, const im_result_t *r);

/* The use case answered at once (returned 0): answer on c, free the job. */
void cmd_job_answer_now(conn_t *c, cmd_job_t *j);

#endif
