/* checkpoint.c: training checkpoints as safetensors files (see safetensors.h).
 *
 * A checkpoint holds the model's tensors under their own names, the optimiser's state
 * tensors under "optim." + their name (optim_state), and metadata:
 *   format = "atelier-checkpoint", version = "1", step = the caller's training step,
 *   optim = optim_name() or "none", optim_steps = optim_steps() (Adam's bias correction
 *   depends on it, and it may differ from the caller's step).
 * Loading checks everything (format, version, optimiser kind, every tensor's presence,
 * shape and dtype) before it copies anything, so a refused checkpoint changes nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/optim.h"
#include "atelier/safetensors.h"

#define CHECKPOINT_FORMAT "atelier-checkpoint"
#define CHECKPOINT_VERSION "1"
#define OPTIM_PREFIX "optim."

/* The optimiser's state as "optim."-prefixed names (malloc'ed, one block each) and tensors.
 * Returns the count, or -1 after error_set. With opt == NULL there is no state. */
static int state_collect(optim *opt, char ***names_out, tensor ***ts_out) {
    *names_out = NULL;
    *ts_out = NULL;
    if (!opt) return 0;
    const char *probe_name[1];
    tensor *probe_t[1];
    int n = optim_state(opt, probe_name, probe_t, 0);
    const char **raw = calloc((size_t)n + 1, sizeof *raw);
    char **names = calloc((size_t)n + 1, sizeof *names);
    tensor **ts = calloc((size_t)n + 1, sizeof *ts);
    if (!raw || !names || !ts) goto nomem;
    optim_state(opt, raw, ts, n);
    for (int i = 0; i < n; i++) {
        names[i] = malloc(strlen(OPTIM_PREFIX) + strlen(raw[i]) + 1);
        if (!names[i]) goto nomem;
        strcat(strcpy(names[i], OPTIM_PREFIX), raw[i]);
    }
    free(raw);
    *names_out = names;
    *ts_out = ts;
    return n;
nomem:
    error_set(STATUS_NOMEM, "checkpoint: out of memory collecting optimiser state");
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(raw); free(names); free(ts);
    return -1;
}

static void state_free(char **names, tensor **ts, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(ts);
}

status checkpoint_save(const char *path, const char *const *names, tensor *const *ts, int n,
                       optim *opt, int64_t step) {
    return checkpoint_save_meta(path, names, ts, n, opt, step, NULL, 0);
}

status checkpoint_save_meta(const char *path, const char *const *names, tensor *const *ts, int n,
                            optim *opt, int64_t step, const char *const *kv, int nkv) {
    if (nkv < 0 || nkv > 64) return error_set(STATUS_ARG, "checkpoint_save: %d metadata pairs (at most 64)", nkv);
    if (!path || n < 0 || step < 0)
        return error_set(STATUS_ARG, "checkpoint_save: bad path, tensor count or step (%" PRId64 ")", step);
    char **snames;
    tensor **sts;
    int ns = state_collect(opt, &snames, &sts);
    if (ns < 0) return STATUS_NOMEM;
    status s = STATUS_NOMEM;
    const char **all_names = calloc((size_t)(n + ns) + 1, sizeof *all_names);
    tensor **all_ts = calloc((size_t)(n + ns) + 1, sizeof *all_ts);
    if (!all_names || !all_ts) {
        error_set(STATUS_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) { all_names[i] = names[i]; all_ts[i] = ts[i]; }
    for (int i = 0; i < ns; i++) { all_names[n + i] = snames[i]; all_ts[n + i] = sts[i]; }
    char step_str[32], osteps_str[32];
    snprintf(step_str, sizeof step_str, "%" PRId64, step);
    snprintf(osteps_str, sizeof osteps_str, "%" PRId64, opt ? optim_steps(opt) : 0);
    const char *meta[2 * (5 + 64)] = {"format", CHECKPOINT_FORMAT, "version", CHECKPOINT_VERSION,
                                      "step", step_str, "optim", opt ? optim_name(opt) : "none",
                                      "optim_steps", osteps_str};
    for (int i = 0; i < 2 * nkv; i++) meta[10 + i] = kv[i];
    s = safetensors_save(path, all_names, all_ts, n + ns, meta, 5 + nkv);
done:
    free(all_names);
    free(all_ts);
    state_free(snames, sts, ns);
    return s;
}

/* A decimal int64 >= 0 from metadata, strictly (no sign, no spaces, no overflow). */
static status meta_int(const safetensors *f, const char *path, const char *key, int64_t *out) {
    const char *s = safetensors_metadata(f, key);
    int64_t v = 0;
    bool ok = s && *s;
    for (const char *p = s; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9' && v <= (INT64_MAX - (*p - '0')) / 10;
        v = v * 10 + (*p - '0');
    }
    if (!ok)
        return error_set(STATUS_FORMAT, "%s: checkpoint metadata \"%s\" is %s%s%s, not a step count",
                         path, key, s ? "\"" : "missing", s ? s : "", s ? "\"" : "");
    *out = v;
    return STATUS_OK;
}

/* format, version and optimiser kind. With opt == NULL the optimiser state is ignored
 * (loading a checkpoint's weights for inference). */
static status check_meta(const safetensors *f, const char *path, const optim *opt) {
    const char *format = safetensors_metadata(f, "format");
    const char *version = safetensors_metadata(f, "version");
    const char *kind = safetensors_metadata(f, "optim");
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0)
        return error_set(STATUS_FORMAT, "%s: not an Atelier checkpoint (metadata format is %s%.40s%s)",
                         path, format ? "\"" : "missing", format ? format : "", format ? "\"" : "");
    if (!version || strcmp(version, CHECKPOINT_VERSION) != 0)
        return error_set(STATUS_FORMAT, "%s: checkpoint version %.20s is not supported (only "
                         CHECKPOINT_VERSION ")", path, version ? version : "(missing)");
    if (!kind)
        return error_set(STATUS_FORMAT, "%s: checkpoint metadata lacks \"optim\"", path);
    if (opt && strcmp(kind, optim_name(opt)) != 0)
        return error_set(STATUS_FORMAT, "%s: checkpoint optimiser is %.20s, but the optimiser given "
                         "is %s", path, kind, optim_name(opt));
    return STATUS_OK;
}

/* Whether name can be loaded into dst without an error (present, same shape, readable
 * dtype). When it cannot, safetensors_load_into is called to record why: it checks the
 * same things in the same order and fails before it copies anything. */
static status check_tensor(const safetensors *f, const char *path, const char *name, tensor *dst) {
    int64_t shape[8];
    int ndim = safetensors_shape(f, name, shape);
    if (ndim < 0) return error_set(STATUS_FORMAT, "%s: checkpoint lacks tensor \"%.80s\"", path, name);
    bool ok = dst && dst->data && ndim == dst->ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] == dst->shape[i];
    const char *dtype = safetensors_dtype(f, name);
    ok = ok && (!strcmp(dtype, "F32") || !strcmp(dtype, "F16") || !strcmp(dtype, "BF16"));
    if (ok) return STATUS_OK;
    status s = safetensors_load_into(f, name, dst);
    return s != STATUS_OK ? s : error_set(STATUS_FORMAT, "%s: cannot load \"%.80s\"", path, name);
}

/* Checks every tensor, then copies every tensor. */
static status load_all(const safetensors *f, const char *path, const char *const *names,
                       tensor *const *ts, int n) {
    for (int i = 0; i < n; i++)
        if (check_tensor(f, path, names[i], ts[i]) != STATUS_OK) return error_status();
    for (int i = 0; i < n; i++)
        if (safetensors_load_into(f, names[i], ts[i]) != STATUS_OK) return error_status();
    return STATUS_OK;
}

status checkpoint_load(const char *path, const char *const *names, tensor *const *ts, int n,
                       optim *opt, int64_t *step) {
    if (!path || n < 0 || (n > 0 && (!names || !ts)))
        return error_set(STATUS_ARG, "checkpoint_load: bad path or tensor arrays");
    char **snames = NULL;
    tensor **sts = NULL;
    int ns = 0;
    int64_t file_step = 0, osteps = 0;
    status s = STATUS_FORMAT;
    safetensors *f = safetensors_open(path);
    if (!f) return error_status();
    if (check_meta(f, path, opt) != STATUS_OK || meta_int(f, path, "step", &file_step) != STATUS_OK)
        goto done;
    if (opt && meta_int(f, path, "optim_steps", &osteps) != STATUS_OK) goto done;
    if ((ns = state_collect(opt, &snames, &sts)) < 0) { s = STATUS_NOMEM; ns = 0; goto done; }
    for (int i = 0; i < n; i++)
        if (check_tensor(f, path, names[i], ts[i]) != STATUS_OK) { s = error_status(); goto done; }
    if ((s = load_all(f, path, (const char *const *)snames, sts, ns)) != STATUS_OK) goto done;
    if ((s = load_all(f, path, names, ts, n)) != STATUS_OK) goto done;
    if (opt) optim_set_steps(opt, osteps);
    if (step) *step = file_step;
done:
    state_free(snames, sts, ns);
    safetensors_close(f);
    return s;
}
