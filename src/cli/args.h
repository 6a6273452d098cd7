/* args.h: option values for the subcommands. Each parser prints one line naming the
 * command, the option and the problem on stderr and returns false on bad input. */
#ifndef ATELIER_ARGS_H
#define ATELIER_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool arg_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out);
bool arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
bool arg_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out);
/* Comma-separated floats "0.7,0.3": at most max; returns the count or -1. */
int arg_floats(const char *cmd, const char *opt, const char *s, float *out, int max);
/* One of the words in choices (NULL-terminated); returns its index or -1. */
int arg_choice(const char *cmd, const char *opt, const char *s, const char *const *choices);

/* Splits "--opt=value" and "--opt value": *val is the value (advancing *i for the second
 * form) or NULL when missing. Returns the option's name without "=value" in buf. */
const char *arg_split(int argc, char **argv, int *i, char *buf, int bufsize, const char **val);


#endif
