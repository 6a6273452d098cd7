/* error.h: how the Atelier library reports runtime failures.
 *
 * Library code never exits and never prints. A function that can fail at run time (bad
 * file, bad shape, out of memory) returns a status (or NULL) and records one line saying
 * what went wrong; the caller prints it. Bugs inside Atelier are assertions (ATELIER_ASSERT)
 * that print file:line and abort.
 *
 * The first failure is kept: ops handed a NULL input return NULL without overwriting the
 * reason, so a chain of ops can be checked once at its end (see ops.h).
 *
 * Example:
 * EXAMPLE_BEGIN
 *   error_clear();
 *   error_set(STATUS_SHAPE, "add: shapes %s and %s cannot broadcast", "(2, 3)", "(4, 3)");
 *   error_set(STATUS_IO, "this later failure is not kept");
 *   if (error_status() != STATUS_SHAPE) return 1;
 *   if (strcmp(error_message(), "add: shapes (2, 3) and (4, 3) cannot broadcast") != 0) return 1;
 *   error_clear();
 *   if (error_status() != STATUS_OK || error_message()[0] != 0) return 1;
 * EXAMPLE_END
 */
#ifndef ATELIER_ERROR_H
#define ATELIER_ERROR_H

typedef enum status {
    STATUS_OK = 0,
    STATUS_IO,      /* a file could not be opened, read or written */
    STATUS_FORMAT,  /* a file's contents are malformed */
    STATUS_SHAPE,   /* tensor shapes do not fit the operation */
    STATUS_ARG,     /* an argument is out of its range */
    STATUS_NOMEM,   /* an allocation failed */
    STATUS_BUSY,    /* a bounded resource (a queue) is full: try again later */
} status;

/* Record a failure unless one is already recorded; returns `s` so callers can
 * `return error_set(...)`. printf-style message, one line, no trailing newline. */
status error_set(status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
status error_status(void);         /* the first failure since error_clear(), or STATUS_OK */
const char *error_message(void);   /* its message, "" when none */
void error_clear(void);
const char *status_name(status s); /* "io", "format", ... */

/* Bugs: print file:line and the condition, then abort. Always on. */
#define ATELIER_ASSERT(cond) \
    do { if (!(cond)) atelier_assert_fail(#cond, __FILE__, __LINE__); } while (0)
_Noreturn void atelier_assert_fail(const char *cond, const char *file, int line);

#endif
