/* fault_vfs: an SQLite VFS that wraps the default one and fails or delays I/O on demand. */
#ifndef KUBELING_FAULT_VFS_H
#define KUBELING_FAULT_VFS_H

#include <stdint.h>

#define FAULT_VFS_NAME "kubeling-fault"

typedef struct fault_vfs_config {
    int fail_writes_after; /* -1: never; N: the (N+1)th write and later fail */
    int fail_syncs_after;  /* -1: never */
    int error_code;        /* SQLite code returned, e.g. SQLITE_FULL or SQLITE_IOERR_FSYNC */
    int sync_delay_ms;     /* every sync sleeps this long first */
} fault_vfs_config_t;

/* Registers the VFS once (idempotent) and sets the faults; counters restart at zero. */
void fault_vfs_set(const fault_vfs_config_t *cfg);
void fault_vfs_clear(void);
uint64_t fault_vfs_syncs(void);

#endif
