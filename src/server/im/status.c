/*
 * Custom status use case (see status.h): one store op, then one event.
 */
#include "server/im/status.h"

#include "server/im/event.h"
#include "server/im/server.h"

#include <stdlib.h>

typedef struct status_job {
    server_t *s;
    im_status_set_t *st;
    im_status_done_fn done;
    void *arg;
} status_job_t;

/* Writer thread, after the commit. */
static void status_done(void *arg, int rc)
{
    status_job_t *j = arg;
    im_status_set_t *st = j->st;
    if (rc == 0) {
        ev_user_status_t d = {st->user, st->text, st->status};
        im_event_t ev = {.kind = EV_USER_STATUS, .app_id = st->app_id, .actor = st->user,
                         .time_ms = now_ms(), .u.status = &d};
        events_emit(j->s->events, &ev);
    }
    j->done(j->arg, rc, st);
    free(j);
}

int im_status_set(server_t *s, im_status_set_t *st, im_status_done_fn done, void *arg)
{
    status_job_t *j = malloc(sizeof *j);
    if (!j)
        return STORE_EIO; /* out of memory: the caller answers as for a store failure */
    *j = (status_job_t){s, st, done, arg};
    int rc = store_user_status_set(s->store, st->app_id, st->user, st->text, st->status,
                                   status_done, j);
    if (rc != 0)
        free(j);
    return rc;
}
