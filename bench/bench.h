/* bench.h: timing and percentile helpers shared by the benchmark programs (header only: each
 * benchmark is one C file). */
#ifndef KUBELING_BENCH_H
#define KUBELING_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v and returns its p-quantile in milliseconds (v holds nanoseconds). */
static inline double pct_ms(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_u64);
    return (double)v[(size_t)(p * (double)(n - 1))] / 1e6;
}

#endif
