/* dist_mpi_none.c: a build without MPI (dist_internal.h): always a single process. */
#include "dist_internal.h"

dist *dist_mpi_init(bool *failed) { (void)failed; return NULL; }
const char *dist_mpi_backends(void) { return "none"; }
