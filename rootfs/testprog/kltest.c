/* kltest: a tiny static multi-call program used as the payload of test containers (crun's
 * init.c in spirit), so tests need no image downloads. Called as kltest APPLET ARGS or through
 * a link named after the applet:
 *   true, false, echo ARGS, cat [FILE...], sleep SECONDS, pause (until SIGTERM/SIGINT),
 *   printenv [NAME], exit CODE, hostname, id, write FILE TEXT, ls DIR */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int copy_fd(int fd)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(1, buf, (size_t)n) != n)
            return 1;
    return n < 0;
}

static int do_echo(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("%s%s", argv[i], i + 1 < argc ? " " : "");
    printf("\n");
    return 0;
}

static int do_cat(int argc, char **argv)
{
    if (argc < 2)
        return copy_fd(0);
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "cat: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int r = copy_fd(fd);
        close(fd);
        if (r)
            return 1;
    }
    return 0;
}

static int do_sleep(int argc, char **argv)
{
    double s = argc > 1 ? strtod(argv[1], NULL) : 0;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return 0;
}

static void on_term(int sig)
{
    (void)sig;
    _exit(0);
}

/* PID 1 gets no default signal handlers: install them so SIGTERM ends a pause. */
static _Noreturn void do_pause(void)
{
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    for (;;)
        pause();
}

static int do_printenv(int argc, char **argv)
{
    if (argc > 1) {
        const char *v = getenv(argv[1]);
        if (!v)
            return 1;
        printf("%s\n", v);
        return 0;
    }
    for (char **e = environ; *e; e++)
        printf("%s\n", *e);
    return 0;
}

static int do_write(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "write: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    size_t len = strlen(argv[2]);
    int r = write(fd, argv[2], len) == (ssize_t)len ? 0 : 1;
    close(fd);
    return r;
}

static int do_ls(int argc, char **argv)
{
    DIR *d = opendir(argc > 1 ? argv[1] : ".");
    if (!d) {
        fprintf(stderr, "ls: %s\n", strerror(errno));
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            printf("%s\n", de->d_name);
    closedir(d);
    return 0;
}

static int run(const char *applet, int argc, char **argv)
{
    char host[256];
    if (!strcmp(applet, "true"))
        return 0;
    if (!strcmp(applet, "false"))
        return 1;
    if (!strcmp(applet, "echo"))
        return do_echo(argc, argv);
    if (!strcmp(applet, "cat"))
        return do_cat(argc, argv);
    if (!strcmp(applet, "sleep"))
        return do_sleep(argc, argv);
    if (!strcmp(applet, "pause"))
        do_pause();
    if (!strcmp(applet, "printenv"))
        return do_printenv(argc, argv);
    if (!strcmp(applet, "exit"))
        return argc > 1 ? atoi(argv[1]) : 0;
    if (!strcmp(applet, "hostname"))
        return gethostname(host, sizeof(host)) < 0 ? 1 : (printf("%s\n", host), 0);
    if (!strcmp(applet, "id"))
        return printf("uid=%u gid=%u\n", (unsigned)getuid(), (unsigned)getgid()) < 0;
    if (!strcmp(applet, "write"))
        return do_write(argc, argv);
    if (!strcmp(applet, "ls"))
        return do_ls(argc, argv);
    fprintf(stderr, "kltest: unknown applet %s\n", applet);
    return 127;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    int r;
    if (strcmp(base, "kltest"))
        r = run(base, argc, argv);
    else if (argc > 1)
        r = run(argv[1], argc - 1, argv + 1);
    else
        r = run("pause", 1, argv);
    fflush(stdout);
    return r;
}
