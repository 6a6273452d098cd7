/* dist_internal.h: a dist is a table of collectives (dist.h): the single process one
 * (dist.c), the MPI one (dist_mpi.c, built with OpenMPI), and room for NCCL. */
#ifndef ATELIER_DIST_INTERNAL_H
#define ATELIER_DIST_INTERNAL_H
#include <stdbool.h>
#include "atelier/dist.h"

typedef struct dist_ops {
    const char *name;
    status (*allreduce_f32)(dist *d, float *buf, int64_t n);
    status (*allreduce_f64)(dist *d, double *buf, int n);
    status (*bcast)(dist *d, void *buf, size_t n, int root);
    void (*finalize)(dist *d);
} dist_ops;

struct dist {
    const dist_ops *ops;
    int rank, size;
    int local_size;     /* ranks on this machine (this one included) */
};

/* The MPI run this process was started in (mpirun's environment), or NULL (no error) when
 * it was not, or when this build has no MPI. NULL with error_set when MPI fails. */
dist *dist_mpi_init(bool *failed);
const char *dist_mpi_backends(void);   /* "mpi" or "none" */

#endif
