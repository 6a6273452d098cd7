/* dist.c: the run's processes (dist.h): the choice of collectives, the single process
 * table, the shares of a batch and the check that the ranks agree. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dist_internal.h"

static status single_allreduce_f32(dist *d, float *buf, int64_t n) { return STATUS_OK; }
static status single_allreduce_f64(dist *d, double *buf, int n) { return STATUS_OK; }
static status single_bcast(dist *d, void *buf, size_t n, int root) { return STATUS_OK; }
static void single_finalize(dist *d) {}

static const dist_ops SINGLE = {"single", single_allreduce_f32, single_allreduce_f64, single_bcast, single_finalize};

dist *dist_init(void) {
    bool failed = false;
    dist *d = dist_mpi_init(&failed);
    if (d || failed) return d;
    if (!(d = calloc(1, sizeof *d))) { error_set(STATUS_NOMEM, "dist: out of memory"); return NULL; }
    d->ops = &SINGLE;
    d->size = 1;
    d->local_size = 1;
    return d;
}

int dist_rank(const dist *d) { return d->rank; }
int dist_size(const dist *d) { return d->size; }

int dist_threads_per_rank(const dist *d) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int k = d->local_size > 1 ? d->local_size : 1;
    return cores > k ? (int)(cores / k) : 1;
}
const char *dist_name(const dist *d) { return d->ops->name; }
status dist_allreduce_sum(dist *d, float *buf, int64_t n) { return d->ops->allreduce_f32(d, buf, n); }
status dist_allreduce_sum_f64(dist *d, double *buf, int n) { return d->ops->allreduce_f64(d, buf, n); }
const char *dist_backends(void) { return dist_mpi_backends(); }

void dist_finalize(dist *d) {
    if (!d) return;
    d->ops->finalize(d);
    free(d);
}

void dist_share(int b, int r, int k, int *lo, int *hi) {
    *lo = (int)((int64_t)b * r / k);
    *hi = (int)((int64_t)b * (r + 1) / k);
}

/* FNV-1a over the bytes; rank 0's goes to every rank, which compares it with its own. */
status dist_check_same(dist *d, const void *bytes, size_t n) {
    uint64_t h = 1469598103934665603ULL, root;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)bytes)[i]) * 1099511628211ULL;
    root = h;
    if (d->ops->bcast(d, &root, sizeof root, 0) != STATUS_OK) return error_status();
    if (root != h) return error_set(STATUS_ARG, "dist: rank %d's weights differ from rank 0's (hash %016llx, rank 0 %016llx)",
                                    d->rank, (unsigned long long)h, (unsigned long long)root);
    return STATUS_OK;
}
