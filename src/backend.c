/* backend.c: which backend the ops run on (see backend.h). */
#include "atelier/backend.h"
#include <stdlib.h>
#include <string.h>

/* Every backend built into this library; the first is the default. Faster backends are
 * listed ahead of the reference one as they land. */
static const backend *backends(int i) {
    switch (i) {
    case 0: return backend_ref();
    default: return NULL;
    }
}

static const backend *g_current;

const backend *backend_find(const char *name) {
    for (int i = 0; backends(i); i++)
        if (strcmp(backends(i)->name, name) == 0) return backends(i);
    return NULL;
}

status backend_select(const char *name) {
    const backend *b = backend_find(name);
    if (!b) return error_set(STATUS_ARG, "no backend named '%s' in this build (have: ref)", name);
    g_current = b;
    return STATUS_OK;
}

const backend *backend_current(void) {
    if (!g_current) {
        const char *env = getenv("ATELIER_BACKEND");
        const backend *b = env && *env ? backend_find(env) : NULL;
        /* An unknown ATELIER_BACKEND falls back to the default; the program checks the
         * variable itself with backend_find and reports it (library code never prints). */
        g_current = b ? b : backends(0);
    }
    return g_current;
}
