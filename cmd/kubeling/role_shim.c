/* role_shim: `kubeling shim STATE_DIR ID REPORT_FD`, the hidden per-container supervisor
 * started by the runtime (pkg/runtime/runtime_shim.c has the logic). */
#include "roles.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int run_shim(const kubeling_globals_t *g, const util_strv_t *args)
{
    (void)g;
    long fd;
    if (args->n != 3 || util_parse_long(args->v[2], -1, 1 << 20, &fd) < 0) {
        util_log_error("usage: kubeling shim STATE_DIR ID REPORT_FD");
        return KUBELING_EXIT_USAGE;
    }
    /* The runtime spawned us in a new session and waits for this process: the shim goes on in
     * a child of it, so it is nobody's child (pkg/runtime/runtime_container.c). */
    pid_t pid = fork();
    if (pid < 0) {
        util_log_error("shim: fork: %s", strerror(errno));
        return 1;
    }
    if (pid > 0)
        _exit(0);
    return runtime_shim_main(args->v[0], args->v[1], (int)fd);
}

const kubeling_role_t role_shim = {
    "shim", "supervise one container (internal)", "STATE_DIR ID REPORT_FD", NULL, run_shim, true,
    NULL,
};
