/* args.c: parsing option values (args.h). */
#include "cli/args.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool arg_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "atelier %s: %s wants a whole number in %ld .. %ld, got '%s'\n", cmd, opt, lo, hi, s ? s : "");
        return false;
    }
    *out = (int)v;
    return true;
}

bool arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = s && *s != '-' ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *s == '-' || *end || errno) {
        fprintf(stderr, "atelier %s: %s wants a whole number >= 0, got '%s'\n", cmd, opt, s ? s : "");
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool arg_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "atelier %s: %s wants a number in %g .. %g, got '%s'\n", cmd, opt, lo, hi, s ? s : "");
        return false;
    }
    *out = (float)v;
    return true;
}

int arg_floats(const char *cmd, const char *opt, const char *s, float *out, int max) {
    int n = 0;
    const char *p = s ? s : "";
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || v < 0 || n == max || (*end && *end != ',')) {
            fprintf(stderr, "atelier %s: %s wants up to %d numbers >= 0 separated by commas, got '%s'\n", cmd, opt, max, s ? s : "");
            return -1;
        }
        out[n++] = (float)v;
        if (!*end) return n;
        p = end + 1;
    }
}

int arg_choice(const char *cmd, const char *opt, const char *s, const char *const *choices) {
    for (int i = 0; s && choices[i]; i++)
        if (!strcmp(s, choices[i])) return i;
    fprintf(stderr, "atelier %s: %s wants one of", cmd, opt);
    for (int i = 0; choices[i]; i++) fprintf(stderr, "%s %s", i ? "," : "", choices[i]);
    fprintf(stderr, "; got '%s'\n", s ? s : "");
    return -1;
}

const char *arg_split(int argc, char **argv, int *i, char *buf, int bufsize, const char **val) {
    const char *a = argv[*i], *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    if (eq) {
        int len = (int)(eq - a) < bufsize - 1 ? (int)(eq - a) : bufsize - 1;
        memcpy(buf, a, (size_t)len);
        buf[len] = 0;
        *val = eq + 1;
        return buf;
    }
    *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (*val) (*i)++;
    return a;
}

