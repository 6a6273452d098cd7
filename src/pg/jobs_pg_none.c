/* jobs_pg_none.c: a build without libpq has no PostgreSQL store (jobs_internal.h). */
#include "jobs_internal.h"

const jobs_store *jobs_pg_store_get(void) { return NULL; }
