/* dist_mpi.c: the collectives on MPI (dist_internal.h), for processes started by mpirun.
 * MPI_Allreduce in place with MPI_SUM: OpenMPI's reduction order is fixed for a given K
 * and buffer, so every rank gets the same bits (the weights stay identical, and
 * dist_check_same checks it). */
#include <mpi.h>
#include <stdlib.h>
#include "dist_internal.h"

static status mpi_fail(const char *what, int rc) {
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(rc, msg, &n);
    return error_set(STATUS_IO, "mpi: %s: %s", what, msg);
}

/* MPI counts are ints: a buffer of more than 2^31 - 1 floats goes in pieces. */
static status mpi_allreduce_f32(dist *d, float *buf, int64_t n) {
    for (int64_t at = 0; at < n;) {
        int k = n - at > (1 << 30) ? (1 << 30) : (int)(n - at);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail("allreduce", rc);
        at += k;
    }
    return STATUS_OK;
}

static status mpi_allreduce_f64(dist *d, double *buf, int n) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? STATUS_OK : mpi_fail("allreduce", rc);
}

static status mpi_bcast(dist *d, void *buf, size_t n, int root) {
    int rc = MPI_Bcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? STATUS_OK : mpi_fail("broadcast", rc);
}

static void mpi_finalize(dist *d) { MPI_Finalize(); }

static const dist_ops MPI_OPS = {"mpi", mpi_allreduce_f32, mpi_allreduce_f64, mpi_bcast, mpi_finalize};

dist *dist_mpi_init(bool *failed) {
    /* started by mpirun (OpenMPI's, or a PMI launcher's) or not: never MPI_Init a lone process */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK")) return NULL;
    dist *d = calloc(1, sizeof *d);
    if (!d) { *failed = true; error_set(STATUS_NOMEM, "dist: out of memory"); return NULL; }
    int rc = MPI_Init(NULL, NULL);
    if (rc != MPI_SUCCESS) { free(d); *failed = true; mpi_fail("init", rc); return NULL; }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    /* the ranks that share this machine (MPI-3: a communicator per shared-memory node) */
    MPI_Comm node;
    d->local_size = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &d->local_size);
        MPI_Comm_free(&node);
    }
    d->ops = &MPI_OPS;
    return d;
}

const char *dist_mpi_backends(void) { return "mpi"; }
