/* fault_vfs: an SQLite VFS that wraps the default one and fails or delays I/O on demand. */
#include "fault_vfs.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fault_file {
    sqlite3_file base;
    sqlite3_file *real; /* lives right after this struct */
} fault_file_t;

static sqlite3_vfs fault_vfs, *real_vfs;
static struct {
    int fail_writes_after, fail_syncs_after, error_code, sync_delay_ms;
    int writes, syncs;
    uint64_t total_syncs;
} faults = {-1, -1, SQLITE_IOERR, 0, 0, 0, 0};

#define REAL(f) (((fault_file_t *)(f))->real)

static int f_close(sqlite3_file *f)
{
    int rc = REAL(f)->pMethods->xClose(REAL(f));
    return rc;
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    int w = __atomic_fetch_add(&faults.writes, 1, __ATOMIC_SEQ_CST);
    int after = __atomic_load_n(&faults.fail_writes_after, __ATOMIC_SEQ_CST);
    if (after >= 0 && w >= after)
        return __atomic_load_n(&faults.error_code, __ATOMIC_SEQ_CST);
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    int delay = __atomic_load_n(&faults.sync_delay_ms, __ATOMIC_SEQ_CST);
    if (delay > 0) {
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    __atomic_fetch_add(&faults.total_syncs, 1, __ATOMIC_SEQ_CST);
    int sy = __atomic_fetch_add(&faults.syncs, 1, __ATOMIC_SEQ_CST);
    int after = __atomic_load_n(&faults.fail_syncs_after, __ATOMIC_SEQ_CST);
    if (after >= 0 && sy >= after)
        return __atomic_load_n(&faults.error_code, __ATOMIC_SEQ_CST);
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_check(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods fault_io = {
    3,          f_close,       f_read,      f_write, f_truncate, f_sync,    f_size,
    f_lock,     f_unlock,      f_check,     f_fcntl, f_sector,   f_devchar, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch,
};

static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                      int *out_flags)
{
    (void)vfs;
    fault_file_t *ff = (fault_file_t *)file;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    file->pMethods = ff->real->pMethods ? &fault_io : NULL;
    return rc;
}

static void ensure_registered(void)
{
    if (real_vfs)
        return;
    real_vfs = sqlite3_vfs_find(NULL);
    fault_vfs = *real_vfs;
    fault_vfs.zName = FAULT_VFS_NAME;
    fault_vfs.szOsFile = (int)sizeof(fault_file_t) + real_vfs->szOsFile;
    fault_vfs.xOpen = fault_open;
    fault_vfs.pNext = NULL;
    sqlite3_vfs_register(&fault_vfs, 0);
}

void fault_vfs_set(const fault_vfs_config_t *cfg)
{
    ensure_registered();
    __atomic_store_n(&faults.writes, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&faults.syncs, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&faults.error_code, cfg->error_code ? cfg->error_code : SQLITE_IOERR,
                     __ATOMIC_SEQ_CST);
    __atomic_store_n(&faults.sync_delay_ms, cfg->sync_delay_ms, __ATOMIC_SEQ_CST);
    __atomic_store_n(&faults.fail_syncs_after, cfg->fail_syncs_after, __ATOMIC_SEQ_CST);
    __atomic_store_n(&faults.fail_writes_after, cfg->fail_writes_after, __ATOMIC_SEQ_CST);
}

void fault_vfs_clear(void)
{
    fault_vfs_config_t none = {-1, -1, 0, 0};
    fault_vfs_set(&none);
}

uint64_t fault_vfs_syncs(void)
{
    return __atomic_load_n(&faults.total_syncs, __ATOMIC_SEQ_CST);
}
