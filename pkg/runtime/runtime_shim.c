/* runtime_shim: `kubeling shim`, one small process per container that outlives the kubelet:
 * creates the container process, holds its stdio and writes the CRI log, reaps it and
 * records its exit durably, and answers a unix socket (state, start, kill, wait).
 *
 * Single-threaded, poll(2) on a handful of fds; it sleeps until the container writes,
 * exits, or a client connects. No libuv: the point is a resident set under 1 MiB. */
#include "runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHIM_CLIENTS 16
#define SHIM_REQ_MAX 256
#define IO_DRAIN_MS  2000 /* after exit, how long daemons holding stdio may keep it open */

typedef struct shim_client {
    int fd;
    bool waiting;
    size_t len;
    char req[SHIM_REQ_MAX];
} shim_client_t;

/* The role's globals, in one struct. */
typedef struct shim {
    runtime__config_t c;
    char *dir;
    int dirfd;
    runtime__cgroups_t cg;
    runtime_container_state_t st;
    runtime__log_t *log;
    int io[2]; /* read ends of the container's stdout and stderr (tty: the master), -1 at EOF */
    int in_fd; /* the container's stdin: a pipe's write end, or the pty master; -1 without */
    int sync_w, report_r, listen_fd, sig_fd;
    shim_client_t clients[SHIM_CLIENTS];
    int64_t exited_at_ms;
} shim_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void save_state(shim_t *s)
{
    util_error_t err = NULL;
    if (runtime__state_write(s->dir, &s->st, &err) < 0) {
        char b[512];
        util_log_error("shim %s: %s", s->st.id, util_error_text(err, b, sizeof(b)));
        util_error_free(&err);
    }
}

/* ---- creating the container process ---------------------------------------------------------- */

static int load_config(shim_t *s, util_error_t *err)
{
    char path[1200];
    cleanup_free char *text = NULL;
    snprintf(path, sizeof(path), "%s/config.json", s->dir);
    int r = util_read_file(path, 1 << 20, &text, NULL, err);
    return r < 0 ? r : runtime__config_from_json(text, &s->c, err);
}

static int open_pipes(int p[4][2], util_error_t *err)
{
    for (int i = 0; i < 4; i++)
        if (pipe2(p[i], O_CLOEXEC) < 0)
            return util_error_make(err, errno, "pipe");
    return 0;
}

/* Reads the child's report: "R" (ready), "E<message>", or EOF (exec succeeded, or death). */
static int read_report(shim_t *s, char *msg, size_t len)
{
    ssize_t n;
    do {
        n = read(s->report_r, msg, len - 1);
    } while (n < 0 && errno == EINTR);
    msg[n > 0 ? n : 0] = 0;
    return n > 0 ? msg[0] : 0;
}

/* The container's stdin and terminal: a pipe for stdin, or a socket the child sends the pty
 * master over (the pty is made inside the container, from its own devpts instance). */
static int open_stdin(shim_t *s, int *child_in, int *console, util_error_t *err)
{
    int p[2];
    if (s->c.tty) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
            return util_error_make(err, errno, "socketpair");
        s->in_fd = p[0]; /* the socket until the master arrives */
        *console = p[1];
    } else if (s->c.stdin_open) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return util_error_make(err, errno, "pipe");
        s->in_fd = p[1];
        *child_in = p[0];
    }
    return 0;
}

/* tty: the master from the child (sent before it reported ready) becomes stdin and output. */
static int take_master(shim_t *s, util_error_t *err)
{
    int m = -1, sock = s->in_fd;
    s->in_fd = -1;
    int r = runtime__recv_fd(sock, &m, NULL);
    close(sock);
    if (r < 0)
        return util_error_make(err, EIO, "no terminal from the container");
    close(s->io[0]);
    close(s->io[1]);
    s->io[1] = -1;
    s->io[0] = m;
    s->in_fd = fcntl(m, F_DUPFD_CLOEXEC, 3);
    return s->in_fd < 0 ? util_error_make(err, errno, "dup") : 0;
}

static int spawn(shim_t *s, util_error_t *err)
{
    int p[4][2] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}}; /* sync, report, stdout, stderr */
    int r = open_pipes(p, err);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), child_in = -1, console = -1;
    char mnt[1200];
    snprintf(mnt, sizeof(mnt), "%s/rootfs", s->dir);
    if (r == 0 && (devnull < 0 || (mkdir(mnt, 0700) < 0 && errno != EEXIST)))
        r = util_error_make(err, errno, "prepare %s", mnt);
    if (r == 0)
        r = open_stdin(s, &child_in, &console, err);
    pid_t pid = -1;
    if (r == 0) {
        unsigned long flags = CLONE_NEWNS | (s->c.host_pid ? 0 : CLONE_NEWPID) | SIGCHLD;
        pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
        if (pid < 0)
            r = util_error_make(err, errno, "clone");
    }
    if (pid == 0) {
        runtime__child_fds_t fds = {p[0][0], p[1][1], child_in >= 0 ? child_in : devnull,
                                    p[2][1], p[3][1], console};
        runtime__child_main(&s->c, mnt, &fds);
    }
    s->sync_w = p[0][1];
    s->report_r = p[1][0];
    s->io[0] = p[2][0];
    s->io[1] = p[3][0];
    int unused[] = {p[0][0], p[1][1], p[2][1], p[3][1], devnull, child_in, console};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(unused); i++)
        if (unused[i] >= 0)
            close(unused[i]);
    if (r < 0)
        return r;
    s->st.pid = pid;
    r = runtime__cgroup_enter(&s->cg, s->c.cgroup, pid, err);
    if (r < 0)
        return r;
    char msg[600];
    if (write(s->sync_w, "c", 1) != 1)
        return util_error_make(err, errno, "signal the container process");
    int kind = read_report(s, msg, sizeof(msg));
    if (kind != 'R')
        return util_error_make(err, 0, "%s", kind == 'E' ? msg + 1 : "container process died");
    return s->c.tty ? take_master(s, err) : 0;
}

/* ---- the socket --------------------------------------------------------------------------- */

/* Paths under the state dir can exceed sun_path (108 bytes); binding through the directory's
 * /proc/self/fd link keeps the address short. */
static int sock_addr(int dirfd, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    return util_snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/sock", dirfd);
}

static int listen_socket(shim_t *s, util_error_t *err)
{
    struct sockaddr_un sa;
    sock_addr(s->dirfd, &sa);
    unlinkat(s->dirfd, "sock", 0);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        fchmodat(s->dirfd, "sock", 0600, 0) < 0 || listen(s->listen_fd, 16) < 0)
        return util_error_make(err, errno, "shim socket");
    return 0;
}

static void reply(int fd, const char *text)
{
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(fd, text, n); /* SIGPIPE is ignored */
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        text += w;
        n -= (size_t)w;
    }
}

static void reply_state(int fd, const runtime_container_state_t *st)
{
    char *json = runtime__state_to_json(st);
    util_buf_t b = {0};
    util_buf_printf(&b, "ok %s\n", json);
    reply(fd, b.data);
    util_buf_free(&b);
    free(json);
}

static void client_close(shim_client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->waiting = false;
    c->len = 0;
}

static bool io_done(const shim_t *s)
{
    return s->st.status == RUNTIME_STATUS_EXITED && s->io[0] < 0 && s->io[1] < 0;
}

static void trim_rss(void);

static void do_start(shim_t *s, shim_client_t *c)
{
    char msg[600];
    if (s->st.status != RUNTIME_STATUS_CREATED) {
        reply(c->fd, "error container is not in the created state\n");
        return;
    }
    if (write(s->sync_w, "s", 1) != 1) {
        reply(c->fd, "error the container process is gone\n");
        return;
    }
    close(s->sync_w);
    s->sync_w = -1;
    int kind = read_report(s, msg, sizeof(msg));
    if (kind == 'E') {
        util_strlcpy(s->st.message, msg + 1, sizeof(s->st.message));
        save_state(s);
        util_buf_t b = {0};
        util_buf_printf(&b, "error %s\n", msg + 1);
        reply(c->fd, b.data);
        util_buf_free(&b);
        return;
    }
    if (s->st.status == RUNTIME_STATUS_CREATED) {
        s->st.status = RUNTIME_STATUS_RUNNING;
        s->st.started_ns = runtime__now_ns();
        save_state(s);
    }
    reply(c->fd, "ok\n");
}

/* attach: a copy of the container's stdin (pipe or pty master) for the caller, one byte with
 * it saying what it is: p pipe, t terminal; upper case with stdinOnce. */
static void stdin_request(shim_t *s, shim_client_t *c)
{
    int fd = s->in_fd;
    if (fd < 0 && s->c.tty && s->io[0] >= 0)
        fd = s->io[0]; /* stdin closed (stdinOnce) or never open: the master still resizes */
    if (fd < 0) {
        reply(c->fd, "error the container has no stdin\n");
        return;
    }
    char kind = s->c.tty ? 't' : 'p';
    if (s->c.stdin_once)
        kind = (char)(kind - 'a' + 'A');
    runtime__send_fd(c->fd, fd, kind);
}

/* stdinOnce: the first attach ended. A pipe is closed (the process reads EOF); a terminal
 * gets its EOF character, as it stays the process's output. */
static void close_stdin(shim_t *s)
{
    if (s->in_fd < 0)
        return;
    if (s->c.tty)
        (void)!write(s->in_fd, "\x04", 1);
    close(s->in_fd);
    s->in_fd = -1;
}

static void handle_request(shim_t *s, shim_client_t *c)
{
    long sig;
    if (!strcmp(c->req, "state")) {
        reply_state(c->fd, &s->st);
    } else if (!strcmp(c->req, "start")) {
        do_start(s, c);
    } else if (!strncmp(c->req, "kill ", 5) && util_parse_long(c->req + 5, 1, 64, &sig) == 0) {
        if (s->st.status != RUNTIME_STATUS_EXITED && kill(s->st.pid, (int)sig) < 0 &&
            errno != ESRCH)
            reply(c->fd, "error kill failed\n");
        else
            reply(c->fd, "ok\n");
    } else if (!strcmp(c->req, "stdin")) {
        stdin_request(s, c);
    } else if (!strcmp(c->req, "closestdin")) {
        close_stdin(s);
        reply(c->fd, "ok\n");
    } else if (!strcmp(c->req, "wait")) {
        if (io_done(s))
            reply_state(c->fd, &s->st);
        else
            return (void)(c->waiting = true);
    } else {
        reply(c->fd, "error unknown request\n");
    }
    client_close(c);
    trim_rss(); /* requests are rare; between them the shim should hold next to nothing */
}

static void client_read(shim_t *s, shim_client_t *c)
{
    ssize_t n = read(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len);
    if (n <= 0 || c->waiting) { /* EOF, error, or bytes after a wait: drop the client */
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || c->waiting)
            client_close(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = 0;
    char *nl = strchr(c->req, '\n');
    if (nl) {
        *nl = 0;
        handle_request(s, c);
    } else if (c->len >= sizeof(c->req) - 1) {
        client_close(c);
    }
}

static void accept_clients(shim_t *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        size_t i = 0;
        while (i < SHIM_CLIENTS && s->clients[i].fd >= 0)
            i++;
        if (i == SHIM_CLIENTS) {
            close(fd);
            continue;
        }
        s->clients[i] = (shim_client_t){.fd = fd};
    }
}

/* ---- exit and stdio ---------------------------------------------------------------------------
 */

static void reap(shim_t *s)
{
    struct signalfd_siginfo si;
    while (read(s->sig_fd, &si, sizeof(si)) == sizeof(si)) {
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != s->st.pid || s->st.status == RUNTIME_STATUS_EXITED)
            continue;
        s->st.status = RUNTIME_STATUS_EXITED;
        s->st.finished_ns = runtime__now_ns();
        if (WIFSIGNALED(status)) {
            s->st.signal = WTERMSIG(status);
            s->st.exit_code = 128 + s->st.signal;
        } else {
            s->st.exit_code = WEXITSTATUS(status);
        }
        s->st.oom_killed = runtime__cgroup_oom_killed(&s->cg, s->c.cgroup);
        save_state(s);
        s->exited_at_ms = mono_ms();
    }
}

static void io_read(shim_t *s, int stream)
{
    char buf[8192];
    struct timespec ts;
    ssize_t n = read(s->io[stream], buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (n > 0) {
        if (s->log)
            runtime__log_feed(s->log, stream, buf, (size_t)n, &ts);
        if (s->log && s->c.tty) /* a prompt shows before its line ends */
            runtime__log_flush_partial(s->log, stream, &ts);
        return;
    }
    if (s->log)
        runtime__log_flush(s->log, stream, &ts);
    close(s->io[stream]);
    s->io[stream] = -1;
}

static void answer_waiters(shim_t *s)
{
    for (size_t i = 0; i < SHIM_CLIENTS; i++)
        if (s->clients[i].fd >= 0 && s->clients[i].waiting) {
            reply_state(s->clients[i].fd, &s->st);
            client_close(&s->clients[i]);
        }
}

static void loop(shim_t *s)
{
    for (;;) {
        struct pollfd pf[4 + SHIM_CLIENTS];
        int n = 0, timeout = -1;
        pf[n++] = (struct pollfd){.fd = s->sig_fd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = s->io[0], .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = s->io[1], .events = POLLIN};
        for (size_t i = 0; i < SHIM_CLIENTS; i++)
            pf[n++] = (struct pollfd){.fd = s->clients[i].fd, .events = POLLIN};
        if (s->st.status == RUNTIME_STATUS_EXITED) {
            int64_t left = s->exited_at_ms + IO_DRAIN_MS - mono_ms();
            for (int i = 0; left <= 0 && i < 2; i++)
                if (s->io[i] >= 0) { /* a daemonized grandchild keeps it open: give up */
                    close(s->io[i]);
                    s->io[i] = -1;
                }
            if (io_done(s))
                return;
            timeout = (int)left;
        }
        if (poll(pf, (nfds_t)n, timeout) < 0 && errno != EINTR)
            return;
        if (pf[0].revents)
            reap(s);
        for (int i = 0; i < 2; i++)
            if (s->io[i] >= 0 && pf[2 + i].revents)
                io_read(s, i);
        for (size_t i = 0; i < SHIM_CLIENTS; i++)
            if (s->clients[i].fd >= 0 && pf[4 + i].revents)
                client_read(s, &s->clients[i]);
        if (pf[1].revents)
            accept_clients(s);
    }
}

/* The read-only segments after relocation (PT_GNU_RELRO): private anonymous copies of file
 * pages that dropping would lose. */
typedef struct {
    uintptr_t lo[8], hi[8];
    size_t n;
} relro_t;

static int relro_of(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    relro_t *r = arg;
    for (int i = 0; i < info->dlpi_phnum && r->n < UTIL_ARRAY_SIZE(r->lo); i++) {
        if (info->dlpi_phdr[i].p_type != PT_GNU_RELRO)
            continue;
        r->lo[r->n] = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
        r->hi[r->n++] = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr + info->dlpi_phdr[i].p_memsz;
    }
    return 0;
}

/* The kernel maps file pages around every fault (fault_around_bytes, 64 KiB), so start-up
 * code leaves most of the binary's text in our resident set. Dropping read-only file mappings
 * from our page tables once set up costs nothing (the pages stay in the page cache, shared
 * with every other shim) and the idle loop faults back only what it runs. A read-only mapping
 * with anonymous pages (RELRO after relocation) must keep them: those are skipped. The list
 * comes from /proc/self/maps, not smaps: smaps walks every page table to count pages, several
 * times per container (after every request). */
static void trim_rss(void)
{
    relro_t relro = {0};
    dl_iterate_phdr(relro_of, &relro);
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512], p[8];
    unsigned long a, b, ino;
    while (f && fgets(line, sizeof(line), f)) {
        if (!strchr(line, '\n')) { /* a longer line (a long path): skip its rest */
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {
            }
        }
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &a, &b, p, &ino) != 4 || ino == 0 ||
            p[0] != 'r' || p[1] == 'w' || p[3] != 'p')
            continue;
        bool keep = false;
        for (size_t i = 0; i < relro.n; i++)
            keep |= a < relro.hi[i] && relro.lo[i] < b;
        if (!keep)
            madvise((void *)a, b - a, MADV_DONTNEED);
    }
    if (f)
        fclose(f);
}

/* ---- main -------------------------------------------------------------------------------------
 */

static int shim_setup(shim_t *s, util_error_t *err)
{
    int r = load_config(s, err);
    if (r == 0 && s->c.cgroups)
        s->cg = *s->c.cgroups; /* the runtime's: no read of our (large) mountinfo */
    else if (r == 0)
        r = runtime__cgroups_detect(&s->cg, err);
    if (r == 0 && s->c.log_path) {
        s->log = util_xcalloc(1, sizeof(*s->log));
        r = runtime__log_open(s->log, s->c.log_path, s->c.log_max_size, s->c.log_max_files, err);
        if (r < 0) {
            free(s->log);
            s->log = NULL;
        }
    }
    if (r < 0)
        return r;
    util_strlcpy(s->st.id, s->c.id, sizeof(s->st.id));
    util_strlcpy(s->st.sandbox_id, s->c.sandbox_id ? s->c.sandbox_id : "",
                 sizeof(s->st.sandbox_id));
    util_strlcpy(s->st.cgroup, s->c.cgroup, sizeof(s->st.cgroup));
    s->st.shim_pid = getpid();
    s->st.created_ns = runtime__now_ns();
    r = runtime__cgroup_create(&s->cg, s->c.cgroup, &s->c.resources, err);
    if (r < 0)
        return r;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sig_fd < 0)
        return util_error_make(err, errno, "signalfd");
    r = spawn(s, err);
    if (r == 0) {
        s->st.status = RUNTIME_STATUS_CREATED;
        save_state(s);
        r = listen_socket(s, err);
    }
    return r;
}

static void shim_teardown(shim_t *s, bool failed)
{
    if (failed && s->st.pid > 0) {
        kill(s->st.pid, SIGKILL);
        waitpid(s->st.pid, NULL, 0);
    }
    if (failed && s->c.cgroup) {
        util_error_t e = NULL;
        runtime__cgroup_destroy(&s->cg, s->c.cgroup, &e);
        util_error_free(&e);
    }
    if (s->listen_fd >= 0) {
        unlinkat(s->dirfd, "sock", 0);
        close(s->listen_fd);
    }
    for (size_t i = 0; i < SHIM_CLIENTS; i++)
        client_close(&s->clients[i]);
    if (s->in_fd >= 0)
        close(s->in_fd);
    if (s->log) {
        runtime__log_close(s->log);
        free(s->log);
    }
    runtime__config_free(&s->c);
}

/* Only stdio and the report pipe are ours; the container must not inherit the report pipe
 * (the creator reads it to EOF) nor anything else the creator leaked. */
static void close_inherited(int report_fd)
{
    if (report_fd > 3)
        syscall(SYS_close_range, 3U, (unsigned)report_fd - 1, 0U);
    syscall(SYS_close_range, (unsigned)(report_fd < 3 ? 3 : report_fd + 1), ~0U, 0U);
    if (report_fd >= 0)
        fcntl(report_fd, F_SETFD, FD_CLOEXEC);
}

int runtime_shim_main(const char *state_dir, const char *id, int report_fd)
{
    shim_t s = {.dirfd = -1,
                .io = {-1, -1},
                .in_fd = -1,
                .sync_w = -1,
                .report_r = -1,
                .listen_fd = -1,
                .sig_fd = -1};
    for (size_t i = 0; i < SHIM_CLIENTS; i++)
        s.clients[i].fd = -1;
    util_error_t err = NULL;
    close_inherited(report_fd);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); /* reap hostPID orphans too */
    int r = -EINVAL;
    if (runtime__id_valid(id)) {
        s.dir = util_strdup_printf("%s/containers/%s", state_dir, id);
        s.dirfd = open(s.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        r = s.dirfd < 0 ? util_error_make(&err, errno, "open %s", s.dir) : shim_setup(&s, &err);
    } else {
        util_error_make(&err, EINVAL, "invalid container id");
    }
    char line[700];
    if (r < 0) {
        char b[600];
        snprintf(line, sizeof(line), "error %s\n", util_error_text(err, b, sizeof(b)));
    } else {
        snprintf(line, sizeof(line), "ok %d\n", (int)s.st.pid);
    }
    if (report_fd >= 0) {
        reply(report_fd, line);
        close(report_fd);
    }
    if (r == 0) {
        trim_rss();
        loop(&s);
        answer_waiters(&s);
    } else {
        util_log_error("shim %s: %s", id, line + 6);
    }
    shim_teardown(&s, r < 0);
    util_error_free(&err);
    free(s.dir);
    if (s.dirfd >= 0)
        close(s.dirfd);
    return r < 0 ? 1 : 0;
}
