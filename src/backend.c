/* backend.c: which backend the ops run on (see backend.h). */
#include "atelier/backend.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Every backend built into this library, fastest first: the first is the default. */
#ifdef ATELIER_HAVE_CPU
const backend *backend_cpu(void);
const backend *backend_cpu_bf16(void);
void cpu_set_threads(int n);
void cpu_conv_set_winograd(bool on);
bool cpu_conv_winograd(void);
#define BACKEND_LIST backend_cpu(), backend_ref(), backend_cpu_bf16()
#define SET_THREADS(n) cpu_set_threads(n)
#define SET_WINOGRAD(on) cpu_conv_set_winograd(on)
#define GET_WINOGRAD() cpu_conv_winograd()
#else
#define BACKEND_LIST backend_ref()
#define SET_THREADS(n) (void)(n)
#define SET_WINOGRAD(on) (void)(on)
#define GET_WINOGRAD() false
#endif

void backend_set_threads(int n) { SET_THREADS(n); }

bool backend_set_winograd(bool on) {
    bool was = GET_WINOGRAD();
    SET_WINOGRAD(on);
    return was;
}

static const backend *backends(int i) {
    const backend *list[] = {BACKEND_LIST, NULL};
    return list[i];
}

static const backend *g_current;

const char *backend_names(void) {
    static char names[128];
    if (!names[0])
        for (int i = 0; backends(i); i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", backends(i)->name);
    return names;
}

const backend *backend_find(const char *name) {
    for (int i = 0; backends(i); i++)
        if (strcmp(backends(i)->name, name) == 0) return backends(i);
    return NULL;
}

status backend_select(const char *name) {
    const backend *b = backend_find(name);
    if (!b) return error_set(STATUS_ARG, "no backend named '%s' in this build (have: %s)", name, backend_names());
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
