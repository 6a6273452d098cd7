/* dist.h: the processes of a data-parallel run and the collectives they need.
 *
 * `mpirun -np K atelier style-net train ...` starts K processes (ranks 0..K-1); each takes
 * its share of every batch (dist_share), computes the gradients of its share's part of the
 * loss, and one dist_allreduce_sum over one fused buffer of all the gradients gives every
 * rank the same sum, so every rank takes the same optimiser step and the weights stay
 * identical (checked: dist_check_same). Rank 0 alone writes files.
 *
 * The seam: a dist is a table of collectives (src/dist/dist_internal.h): the MPI one
 * (OpenMPI, built when found; used when the process was started by mpirun) and the single
 * process one (size 1: every collective is a no-op). NCCL on GPUs would be a third table,
 * all-reducing device buffers, chosen here in dist_init; nothing above it changes.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   dist *d = dist_init();                 // not under mpirun: one process, rank 0 of 1
 *   if (!d) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   float grads[3] = {1, 2, 3};
 *   if (dist_allreduce_sum(d, grads, 3) != STATUS_OK) return 1;   // the sum over the ranks
 *   if (dist_size(d) == 1 && grads[2] != 3) return 1;
 *   int lo, hi;
 *   dist_share(10, 1, 4, &lo, &hi);        // rank 1 of 4 takes rows 2, 3, 4 of a batch of 10
 *   if (lo != 2 || hi != 5) return 1;
 *   if (dist_check_same(d, grads, sizeof grads) != STATUS_OK) return 1;
 *   if (dist_threads_per_rank(d) < 1) return 1;   // alone: every core of the machine
 *   dist_finalize(d);
 * EXAMPLE_END
 */
#ifndef ATELIER_DIST_H
#define ATELIER_DIST_H
#include <stddef.h>
#include <stdint.h>
#include "atelier/error.h"

typedef struct dist dist;

/* The run's processes: MPI when this build has it and mpirun started this process, else a
 * single process. NULL and error_set when MPI fails to start. */
dist *dist_init(void);
int dist_rank(const dist *d);
int dist_size(const dist *d);
const char *dist_name(const dist *d);          /* "mpi" or "single" */
/* In place: every rank gets the element-wise sum over the ranks. */
status dist_allreduce_sum(dist *d, float *buf, int64_t n);
status dist_allreduce_sum_f64(dist *d, double *buf, int n);
/* STATUS_ARG when these bytes (their hash) differ from rank 0's: the ranks diverged. */
status dist_check_same(dist *d, const void *bytes, size_t n);
void dist_finalize(dist *d);                   /* NULL is fine */
/* Rows [lo, hi) of a batch of b for rank r of k: contiguous, sizes differ by 1 at most. */
void dist_share(int b, int r, int k, int *lo, int *hi);
/* This machine's cores shared among the ranks on it (at least 1): the threads each should
 * use. Ranks that each start a thread per core oversubscribe the machine, and their
 * threads wait on one another in every collective (measured: 10x slower on 2 cores). */
int dist_threads_per_rank(const dist *d);
/* What this build can run on: "mpi" (OpenMPI found) or "none". */
const char *dist_backends(void);

#endif
