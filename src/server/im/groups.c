/*
 * Group management use cases (groups.h): each builds one store op from
 * plain parameters, queues it on the writer, and after the commit turns
 * what was committed into domain events (EV_GROUP_*) before handing the
 * outcome to the caller.  Owns the op's memory (copied inputs, results).
 */
#include "server/im/groups.h"

#include "server/core/util.h"
#include "server/im/msgkey.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gjob {
    store_group_op_t op;
    store_group_member_t *members; /* op.members: the copied input */
    int *results;                  /* op.results */
    events_t *events;
    ev_origin_t origin;            /* imei points to imei below */
    char *imei;
    group_done_fn done;
    void *arg;
} gjob_t;

static gjob_t *job_new(const group_caller_t *c, int what, const char *group_id)
{
    gjob_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->imei = strdup(c->origin.imei ? c->origin.imei : "");
    if (!j->imei) {
        free(j);
        return NULL;
    }
    j->origin = c->origin;
    j->origin.imei = j->imei;
    j->events = c->events;
    j->op.what = what;
    j->op.app_id = c->app_id;
    j->op.admin = c->admin;
    if (group_id)
        snprintf(j->op.group_id, sizeof j->op.group_id, "%s", group_id);
    snprintf(j->op.operator_id, sizeof j->op.operator_id, "%s",
             c->operator_id ? c->operator_id : "");
    return j;
}

static void job_free(gjob_t *j)
{
    if (!j)
        return;
    store_group_op_clear(&j->op);
    free(j->members);
    free(j->results);
    free(j->imei);
    free(j);
}

/* Copy members[0..n) into the op, with room for the results. */
static int job_members(gjob_t *j, const store_group_member_t *members, size_t n)
{
    if (n == 0)
        return 0;
    j->members = malloc(n * sizeof *j->members);
    j->results = calloc(n, sizeof *j->results);
    if (!j->members || !j->results)
        return -1;
    memcpy(j->members, members, n * sizeof *j->members);
    j->op.members = j->members;
    j->op.results = j->results;
    j->op.n = n;
    return 0;
}

static void emit(gjob_t *j, ev_kind_t kind, const void *extra)
{
    const store_group_op_t *op = &j->op;
    im_event_t ev = {
        .kind = kind,
        .app_id = op->app_id,
        .actor = op->admin ? "" : op->operator_id,
        .origin = j->origin,
        .time_ms = now_ms(),
        .u.gop = op,
        .extra = extra,
    };
    events_emit(j->events, &ev);
}

static void emit_joined(gjob_t *j, const char (*ids)[STORE_ID_MAX + 1], size_t n)
{
    ev_group_joined_t who = {ids, n};
    if (n)
        emit(j, EV_GROUP_MEMBER_ADDED, &who);
}

/* members[i] with results[i] == 0, in order. */
static void emit_added(gjob_t *j)
{
    const store_group_op_t *op = &j->op;
    size_t n = 0;
    for (size_t i = 0; i < op->n; i++)
        n += op->results[i] == 0;
    if (!n)
        return; /* nobody joined: nothing was written */
    char (*ids)[STORE_ID_MAX + 1] = malloc(n * sizeof *ids);
    if (!ids)
        return; /* the change stands; only its announcement is lost */
    size_t k = 0;
    for (size_t i = 0; i < op->n; i++)
        if (op->results[i] == 0)
            memcpy(ids[k++], op->members[i].member_id, sizeof ids[0]);
    emit_joined(j, (const char(*)[STORE_ID_MAX + 1])ids, n);
    free(ids);
}

/* The events of a committed op, in the order of its changes. */
static void announce(gjob_t *j)
{
    const store_group_op_t *op = &j->op;
    switch (op->what) {
    case SG_CREATE:
    case SG_IMPORT: emit(j, EV_GROUP_CREATED, NULL); break;
    case SG_UPDATE: emit(j, EV_GROUP_UPDATED, NULL); break;
    case SG_DESTROY: emit(j, EV_GROUP_DESTROYED, NULL); break;
    case SG_TRANSFER: emit(j, EV_GROUP_TRANSFERRED, NULL); break;
    case SG_MUTE: emit(j, EV_GROUP_MUTED, NULL); break;
    case SG_MEMBER_ADD:
    case SG_MEMBER_IMPORT: emit_added(j); break;
    case SG_MEMBER_REMOVE:
    case SG_MEMBER_EXIT: emit(j, EV_GROUP_MEMBER_REMOVED, NULL); break;
    case SG_MEMBER_UPDATE: emit(j, EV_GROUP_MEMBER_UPDATED, NULL); break;
    case SG_MEMBER_SPEAK: emit(j, EV_GROUP_MEMBER_MUTED, NULL); break;
    case SG_APPLY:
        if (op->joined)
            emit_joined(j, &op->operator_id, 1);
        else
            emit(j, EV_GROUP_JOIN_REQUEST, NULL);
        break;
    case SG_DECIDE:
        emit(j, EV_GROUP_JOIN_DECIDED, NULL);
        if (op->joined)
            emit_joined(j, &op->request.from_id, 1);
        break;
    default: break;
    }
}

/* Writer thread, after the commit. */
static void job_done(void *arg, int rc)
{
    gjob_t *j = arg;
    if (rc == 0 && !j->op.reject)
        announce(j);
    j->done(j->arg, rc, &j->op);
    job_free(j);
}

static int job_submit(const group_caller_t *c, gjob_t *j, group_done_fn done, void *arg)
{
    j->done = done;
    j->arg = arg;
    int rc = store_group_write(c->store, &j->op, job_done, j);
    if (rc != 0)
        job_free(j);
    return rc;
}

static void random_group_id(char *dst)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) { /* never seen; still unique enough per node */
        int64_t t = msgkey_next(0, now_ms());
        memcpy(b, &t, sizeof t);
        memcpy(b + 8, &t, sizeof t);
    }
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(dst + 2 * i, 3, "%02x", b[i]);
}

int group_create(const group_caller_t *c, const char *group_id, const store_group_t *fields,
                 const store_group_member_t *members, size_t n, int import, group_done_fn done,
                 void *arg)
{
    gjob_t *j = job_new(c, import ? SG_IMPORT : SG_CREATE, group_id);
    if (!j || job_members(j, members, n) < 0) {
        job_free(j);
        return GROUP_ENOMEM;
    }
    j->op.g = *fields;
    if (!group_id || !group_id[0])
        random_group_id(j->op.group_id);
    return job_submit(c, j, done, arg);
}

int group_update(const group_caller_t *c, const char *group_id, const store_group_t *fields,
                 unsigned mask, group_done_fn done, void *arg)
{
    gjob_t *j = job_new(c, SG_UPDATE, group_id);
    if (!j)
        return GROUP_ENOMEM;
    j->op.g = *fields;
    j->op.mask = mask;
    return job_submit(c, j, done, arg);
}

int group_destroy(const group_caller_t *c, const char *group_id, group_done_fn done, void *arg)
{
    gjob_t *j = job_new(c, SG_DESTROY, group_id);
    return j ? job_submit(c, j, done, arg) : GROUP_ENOMEM;
}

/* An op on one target user. */
static gjob_t *job_target(const group_caller_t *c, int what, const char *group_id,
                          const char *target)
{
    gjob_t *j = job_new(c, what, group_id);
    if (j)
        snprintf(j->op.target, sizeof j->op.target, "%s", target);
    return j;
}

int group_transfer(const group_caller_t *c, const char *group_id, const char *new_owner,
                   group_done_fn done, void *arg)
{
    gjob_t *j = job_target(c, SG_TRANSFER, group_id, new_owner);
    return j ? job_submit(c, j, done, arg) : GROUP_ENOMEM;
}

int group_mute(const group_caller_t *c, const char *group_id, int mute, group_done_fn done,
               void *arg)
{
    gjob_t *j = job_new(c, SG_MUTE, group_id);
    if (!j)
        return GROUP_ENOMEM;
    j->op.flag = mute;
    return job_submit(c, j, done, arg);
}

int group_members_add(const group_caller_t *c, const char *group_id,
                      const store_group_member_t *members, size_t n, int import,
                      group_done_fn done, void *arg)
{
    gjob_t *j = job_new(c, import ? SG_MEMBER_IMPORT : SG_MEMBER_ADD, group_id);
    if (!j || job_members(j, members, n) < 0) {
        job_free(j);
        return GROUP_ENOMEM;
    }
    return job_submit(c, j, done, arg);
}

int group_member_remove(const group_caller_t *c, const char *group_id, const char *member_id,
                        group_done_fn done, void *arg)
{
    gjob_t *j = job_target(c, SG_MEMBER_REMOVE, group_id, member_id);
    return j ? job_submit(c, j, done, arg) : GROUP_ENOMEM;
}

int group_member_exit(const group_caller_t *c, const char *group_id, group_done_fn done,
                      void *arg)
{
    gjob_t *j = job_new(c, SG_MEMBER_EXIT, group_id);
    if (!j)
        return GROUP_ENOMEM;
    j->op.admin = 0; /* leaving is always one's own act */
    return job_submit(c, j, done, arg);
}

int group_member_update(const group_caller_t *c, const char *group_id, const char *member_id,
                        const store_group_member_t *fields, unsigned mask, group_done_fn done,
                        void *arg)
{
    gjob_t *j = job_target(c, SG_MEMBER_UPDATE, group_id, member_id);
    if (!j)
        return GROUP_ENOMEM;
    j->op.m = *fields;
    j->op.mask = mask;
    return job_submit(c, j, done, arg);
}

int group_member_mute(const group_caller_t *c, const char *group_id, const char *member_id,
                      int64_t duration_ms, group_done_fn done, void *arg)
{
    gjob_t *j = job_target(c, SG_MEMBER_SPEAK, group_id, member_id);
    if (!j)
        return GROUP_ENOMEM;
    j->op.speak_date = duration_ms > 0 ? now_ms() + duration_ms : 0;
    return job_submit(c, j, done, arg);
}

int group_apply(const group_caller_t *c, const char *group_id, const char *wording,
                group_done_fn done, void *arg)
{
    gjob_t *j = job_new(c, SG_APPLY, group_id);
    if (!j)
        return GROUP_ENOMEM;
    j->op.admin = 0; /* applying is always one's own act */
    if (wording)
        snprintf(j->op.wording, sizeof j->op.wording, "%s", wording);
    return job_submit(c, j, done, arg);
}

int group_decide(const group_caller_t *c, const char *group_id, int64_t request_id, int status,
                 group_done_fn done, void *arg)
{
    gjob_t *j = job_new(c, SG_DECIDE, group_id);
    if (!j)
        return GROUP_ENOMEM;
    j->op.id = request_id;
    j->op.flag = status;
    return job_submit(c, j, done, arg);
}
