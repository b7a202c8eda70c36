/* runtime_stdio: file descriptors across unix sockets (SCM_RIGHTS) and ptys made in the
 * container's own devpts instance, for exec with a terminal, containers with `tty: true`, and
 * attach (the shim hands the container's stdin to the caller). */
#include "runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

int runtime__send_fd(int sock, int fd, char byte)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -EIO;
}

int runtime__recv_fd(int sock, int *ret_fd, char *ret_byte)
{
    char cbuf[CMSG_SPACE(sizeof(int))], byte = 0;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EIO;
    memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
    if (ret_byte)
        *ret_byte = byte;
    return 0;
}

int runtime__pty_setup(int sock)
{
    int unlock = 0, m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || ioctl(m, TIOCSPTLCK, &unlock) < 0)
        return -1;
    int slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0 || runtime__send_fd(sock, m, 't') < 0)
        return -1;
    close(m);
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        return -1;
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return -1;
    if (slave > 2)
        close(slave);
    return 0;
}

/* ---- attach: the caller's side of the shim's "stdin" and "closestdin" ------------------------ */

int runtime_container_stdin(runtime_t *rt, const char *id, int *ret_fd, bool *ret_tty,
                            bool *ret_once, util_error_t *err)
{
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    cleanup_free char *dir = runtime__container_dir(rt, id);
    int sock = runtime__shim_connect(dir, err);
    if (sock < 0)
        return sock;
    int fd = -1, r = 0;
    char flags = 0;
    if (write(sock, "stdin\n", 6) != 6)
        r = util_error_make(err, errno, "send to the shim");
    else if (runtime__recv_fd(sock, &fd, &flags) < 0) /* "error ..." comes without an fd */
        r = util_error_make(err, ENOTTY, "container %s has no stdin and no terminal", id);
    close(sock);
    if (r < 0)
        return r;
    *ret_fd = fd;
    *ret_tty = flags == 't' || flags == 'T';
    *ret_once = flags == 'P' || flags == 'T';
    return 0;
}

int runtime_container_close_stdin(runtime_t *rt, const char *id, util_error_t *err)
{
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    cleanup_free char *dir = runtime__container_dir(rt, id), *rep = NULL;
    int r = runtime__shim_request(dir, "closestdin", &rep, err);
    if (r == 0 && strncmp(rep, "ok", 2))
        r = util_error_make(err, 0, "container %s: %s", id, rep);
    return r;
}
