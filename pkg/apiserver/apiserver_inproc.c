/* apiserver_inproc: the in-process transport. Components of `kubeling server` (scheduler,
 * controller manager, the server's own kubelet) reach the apiserver through a socketpair per
 * connection instead of loopback TLS: the apiserver's end is adopted into its connection loop as
 * a plain HTTP/1.1 connection already authenticated as the identity it was made for, the other
 * end goes to pkg/client (client_config_t.connect). Nothing is bound or written to disk, so
 * nothing outside the process can reach such a connection; network clients still need TLS.
 *
 * apiserver_inproc_connect may be called from any thread: the fd is queued under a mutex and
 * adopted on the apiserver's loop from a uv_async callback. The TLS front threads
 * (apiserver_tlsfront.c) hand over network clients the same way (apiserver__inproc_hand), each
 * with the identity of its client certificate (or none: anonymous) and its address. */
#include "apiserver_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define INPROC_MAX_GROUPS 16

struct apiserver_inproc {
    struct apiserver_inproc_state *state;
    apiserver_inproc_t *next; /* every identity, released with the apiserver */
    char *user;
    util_strv_t groups; /* as given, plus system:authenticated */
};

typedef struct pending {
    int fd;
    apiserver_inproc_t *id; /* or NULL: a network client from the TLS front: */
    char *user;             /* NULL: anonymous */
    util_strv_t groups;
    char peer[64];
} pending_t;

struct apiserver_inproc_state {
    apiserver_t *srv;
    uv_async_t async;
    uv_mutex_t mu;
    bool closed;        /* the apiserver stopped: connects are refused (under mu) */
    pending_t *pending; /* fds waiting for the loop (under mu) */
    size_t npending, cap;
    apiserver_inproc_t *ids;
};

static void on_async(uv_async_t *h)
{
    struct apiserver_inproc_state *s = h->data;
    uv_mutex_lock(&s->mu);
    pending_t *list = s->pending;
    size_t n = s->npending;
    s->pending = NULL;
    s->npending = s->cap = 0;
    uv_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &list[i];
        if (s->srv->stopping)
            close(p->fd);
        else if (p->id)
            apiserver__conn_adopt(s->srv, p->fd, p->id->user, &p->id->groups, "127.0.0.1", true);
        else
            apiserver__conn_adopt(s->srv, p->fd, p->user, &p->groups, p->peer, false);
        free(p->user);
        util_strv_clear(&p->groups);
    }
    free(list);
}

static void on_async_closed(uv_handle_t *h)
{
    struct apiserver_inproc_state *s = h->data;
    apiserver__unref(s->srv);
}

/* The state is made on the loop's thread at the first identity (uv_async_init is not
 * thread-safe), before any connect can happen. */
static struct apiserver_inproc_state *state_of(apiserver_t *a)
{
    if (a->inproc)
        return a->inproc;
    struct apiserver_inproc_state *s = util_xcalloc(1, sizeof(*s));
    s->srv = a;
    if (uv_mutex_init(&s->mu) != 0) {
        free(s);
        return NULL;
    }
    if (uv_async_init(a->opts.loop, &s->async, on_async) != 0) {
        uv_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    s->async.data = s;
    a->pending_closes++;
    a->inproc = s;
    return s;
}

int apiserver__inproc_init(apiserver_t *a)
{
    return state_of(a) ? 0 : -ENOMEM;
}

/* Queues p (moved) for the loop; false when the apiserver stopped. */
static bool enqueue(struct apiserver_inproc_state *s, const pending_t *p)
{
    uv_mutex_lock(&s->mu);
    if (s->closed) {
        uv_mutex_unlock(&s->mu);
        return false;
    }
    if (s->npending == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->pending = util_xrealloc(s->pending, s->cap * sizeof(*s->pending));
    }
    s->pending[s->npending++] = *p;
    uv_async_send(&s->async); /* under mu: the handle is closed only after closed is set */
    uv_mutex_unlock(&s->mu);
    return true;
}

void apiserver__inproc_hand(apiserver_t *a, int fd, const char *user, const util_strv_t *groups,
                            const char *peer)
{
    pending_t p = {.fd = fd, .user = user ? util_xstrdup(user) : NULL};
    for (size_t i = 0; user && i < groups->n; i++)
        util_strv_push(&p.groups, groups->v[i]);
    snprintf(p.peer, sizeof(p.peer), "%s", peer ? peer : "?");
    if (!enqueue(a->inproc, &p)) {
        close(fd);
        free(p.user);
        util_strv_clear(&p.groups);
    }
}

apiserver_inproc_t *apiserver_inproc_identity(apiserver_t *a, const char *user,
                                              const char *const *groups, size_t ngroups)
{
    if (!a || a->stopping || !user || !user[0] || ngroups > INPROC_MAX_GROUPS)
        return NULL;
    struct apiserver_inproc_state *s = state_of(a);
    if (!s)
        return NULL;
    apiserver_inproc_t *id = util_xcalloc(1, sizeof(*id));
    id->state = s;
    id->user = util_xstrdup(user);
    for (size_t i = 0; i < ngroups; i++)
        if (groups[i] && strcmp(groups[i], "system:authenticated"))
            util_strv_push(&id->groups, groups[i]);
    util_strv_push(&id->groups, "system:authenticated");
    id->next = s->ids;
    s->ids = id;
    return id;
}

int apiserver_inproc_connect(void *identity, int *ret_fd)
{
    apiserver_inproc_t *id = identity;
    if (!id || !ret_fd)
        return -EINVAL;
    struct apiserver_inproc_state *s = id->state;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    if (!enqueue(s, &(pending_t){.fd = sv[0], .id = id})) {
        close(sv[0]);
        close(sv[1]);
        return -ECONNREFUSED;
    }
    *ret_fd = sv[1];
    return 0;
}

void apiserver__inproc_stop(apiserver_t *a)
{
    struct apiserver_inproc_state *s = a->inproc;
    if (!s)
        return;
    uv_mutex_lock(&s->mu);
    s->closed = true;
    for (size_t i = 0; i < s->npending; i++) {
        close(s->pending[i].fd); /* the client end sees the connection closed */
        free(s->pending[i].user);
        util_strv_clear(&s->pending[i].groups);
    }
    s->npending = 0;
    uv_mutex_unlock(&s->mu);
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}

void apiserver__inproc_free(apiserver_t *a)
{
    struct apiserver_inproc_state *s = a->inproc;
    if (!s)
        return;
    while (s->ids) {
        apiserver_inproc_t *id = s->ids;
        s->ids = id->next;
        free(id->user);
        util_strv_clear(&id->groups);
        free(id);
    }
    free(s->pending);
    uv_mutex_destroy(&s->mu);
    free(s);
    a->inproc = NULL;
}
