/* error.c: the per-thread record of the first runtime failure (see error.h). */
#include "atelier/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local status g_status = STATUS_OK;
static _Thread_local char g_message[512];

status error_set(status s, const char *fmt, ...) {
    if (g_status != STATUS_OK) return s;  /* keep the first reason: it is the cause */
    g_status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_message, sizeof g_message, fmt, ap);
    va_end(ap);
    /* One line, whatever the arguments held: a name read from a file may carry "\n". */
    for (char *c = g_message; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = ' ';
    return s;
}

status error_status(void) { return g_status; }
const char *error_message(void) { return g_message; }

void error_clear(void) {
    g_status = STATUS_OK;
    g_message[0] = 0;
}

const char *status_name(status s) {
    switch (s) {
    case STATUS_OK: return "ok";
    case STATUS_IO: return "io";
    case STATUS_FORMAT: return "format";
    case STATUS_SHAPE: return "shape";
    case STATUS_ARG: return "argument";
    case STATUS_NOMEM: return "out of memory";
    case STATUS_BUSY: return "busy";
    }
    return "unknown";
}

_Noreturn void atelier_assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "%s:%d: assertion failed: %s (a bug in Atelier)\n", file, line, cond);
    abort();
}
