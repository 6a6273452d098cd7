/* lab_settings.c: the lab's settings to and from JSON (lab.h), with one-line reasons for
 * what is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "lab_internal.h"

static const char *const NOISE_NAMES[] = {"gaussian", "uniform"};
static const char *const OPT_NAMES[] = {"adam", "sgd"};
/* gan_loss order: GAN Lab's "log" is bce */
static const char *const LOSS_NAMES[] = {"log", "hinge", "wgan-gp", "least-squares"};
static const char *const DIST_NAMES[] = {"line", "two-gaussians", "ring", "three-blobs", "drawn"};

static status pick(const json_value *v, const char *key, const char *const *names, int n, int *out) {
    if (v->type == JSON_STRING)
        for (int i = 0; i < n; i++)
            if (!strcmp(v->string, names[i])) { *out = i; return STATUS_OK; }
    char list[160] = "";
    for (int i = 0; i < n; i++) {
        strcat(list, names[i]);
        strcat(list, i + 2 < n ? ", " : i + 1 < n ? " or " : "");
    }
    return error_set(STATUS_ARG, "%s: must be %s", key, list);
}

static status num(const json_value *v, const char *key, double lo, double hi, double *out) {
    if (v->type != JSON_NUMBER || !(v->number >= lo && v->number <= hi))
        return error_set(STATUS_ARG, "%s: must be a number in %g..%g", key, lo, hi);
    *out = v->number;
    return STATUS_OK;
}

static status integer(const json_value *v, const char *key, int lo, int hi, int *out) {
    if (v->type != JSON_NUMBER || !v->is_int || v->integer < lo || v->integer > hi)
        return error_set(STATUS_ARG, "%s: must be an integer in %d..%d", key, lo, hi);
    *out = (int)v->integer;
    return STATUS_OK;
}

/* "g_units": one width for every layer, or a list of up to five */
static status units(const json_value *v, const char *key, int *out) {
    if (v->type == JSON_NUMBER) {
        int u = 0;
        if (integer(v, key, 1, 100, &u) != STATUS_OK) return error_status();
        for (int i = 0; i < GAN_MLP_MAX_HIDDEN; i++) out[i] = u;
        return STATUS_OK;
    }
    if (v->type != JSON_ARRAY || v->count < 1 || v->count > GAN_MLP_MAX_HIDDEN)
        return error_set(STATUS_ARG, "%s: one width or a list of 1..5 widths, each 1..100", key);
    for (int i = 0; i < GAN_MLP_MAX_HIDDEN; i++)
        if (integer(&v->items[i < v->count ? i : v->count - 1], key, 1, 100, &out[i]) != STATUS_OK) return error_status();
    return STATUS_OK;
}

static status points(const json_value *v, lab_settings *s) {
    if (v->type != JSON_ARRAY || v->count > LAB_MAX_POINTS)
        return error_set(STATUS_ARG, "points: a list of at most %d [x, y] pairs", LAB_MAX_POINTS);
    for (int i = 0; i < v->count; i++) {
        const json_value *p = &v->items[i];
        if (p->type != JSON_ARRAY || p->count != 2 || p->items[0].type != JSON_NUMBER || p->items[1].type != JSON_NUMBER ||
            !(p->items[0].number >= 0 && p->items[0].number <= 1 && p->items[1].number >= 0 && p->items[1].number <= 1))
            return error_set(STATUS_ARG, "points: point %d is not an [x, y] pair in [0, 1]^2", i);
        s->points[2 * i] = (float)p->items[0].number;
        s->points[2 * i + 1] = (float)p->items[1].number;
    }
    s->npoints = v->count;
    return STATUS_OK;
}

static status field(const char *k, const json_value *v, lab_settings *s) {
    double d = 0;
    int e = 0;
    status st = STATUS_OK;
    if (!strcmp(k, "preset")) return STATUS_OK;   /* applied first */
    if (!strcmp(k, "dist")) { if ((st = pick(v, k, DIST_NAMES, 5, &e)) == STATUS_OK) s->dist = (lab_dist)e; }
    else if (!strcmp(k, "points")) st = points(v, s);
    else if (!strcmp(k, "noise_dim")) st = integer(v, k, 1, 2, &s->noise_dim);
    else if (!strcmp(k, "noise")) { if ((st = pick(v, k, NOISE_NAMES, 2, &e)) == STATUS_OK) s->noise = (gan_noise)e; }
    else if (!strcmp(k, "g_layers")) st = integer(v, k, 0, GAN_MLP_MAX_HIDDEN, &s->g_layers);
    else if (!strcmp(k, "d_layers")) st = integer(v, k, 0, GAN_MLP_MAX_HIDDEN, &s->d_layers);
    else if (!strcmp(k, "g_units")) st = units(v, k, s->g_units);
    else if (!strcmp(k, "d_units")) st = units(v, k, s->d_units);
    else if (!strcmp(k, "optimizer")) { if ((st = pick(v, k, OPT_NAMES, 2, &e)) == STATUS_OK) s->opt = (gan_opt)e; }
    else if (!strcmp(k, "loss")) { if ((st = pick(v, k, LOSS_NAMES, 4, &e)) == STATUS_OK) s->loss = (gan_loss)e; }
    else if (!strcmp(k, "lr_g")) { if ((st = num(v, k, 1e-6, 1, &d)) == STATUS_OK) s->lr_g = (float)d; }
    else if (!strcmp(k, "lr_d")) { if ((st = num(v, k, 1e-6, 1, &d)) == STATUS_OK) s->lr_d = (float)d; }
    else if (!strcmp(k, "beta1")) { if ((st = num(v, k, 0, 0.999, &d)) == STATUS_OK) s->beta1 = (float)d; }
    else if (!strcmp(k, "k_d")) st = integer(v, k, 1, 10, &s->k_d);
    else if (!strcmp(k, "k_g")) st = integer(v, k, 1, 10, &s->k_g);
    else if (!strcmp(k, "batch")) st = integer(v, k, 8, 512, &s->batch);
    else if (!strcmp(k, "seed")) { if ((st = integer(v, k, 0, 1 << 30, &e)) == STATUS_OK) s->seed = (uint64_t)e; }
    else st = error_set(STATUS_ARG, "unknown setting \"%.40s\"", k);
    return st;
}

status lab_settings_from_json(const char *text, size_t len, lab_settings *s) {
    json_error err;
    json_value *v = json_parse(text, len, &err);
    if (!v) return error_set(STATUS_ARG, "the body is not JSON: %s", err.msg);
    lab_settings t = *s;
    status st = v->type == JSON_OBJECT ? STATUS_OK : error_set(STATUS_ARG, "the body must be a JSON object of settings");
    const json_value *p = json_get(v, "preset");
    if (st == STATUS_OK && p) {
        if (p->type != JSON_STRING) st = error_set(STATUS_ARG, "preset: default or collapse");
        else st = lab_preset(p->string, &t);
    }
    for (int i = 0; st == STATUS_OK && i < v->count; i++) st = field(v->keys[i], &v->items[i], &t);
    json_free(v);
    if (st == STATUS_OK) st = lab_settings_check(&t);
    if (st == STATUS_OK) *s = t;
    return st;
}

static void units_json(strbuf *b, const char *key, const int *u, int n) {
    sb_printf(b, ",\"%s\":[", key);
    for (int i = 0; i < n; i++) sb_printf(b, "%s%d", i ? "," : "", u[i]);
    sb_printf(b, "]");
}

char *lab_settings_json(const lab_settings *s) {
    strbuf b = {malloc(1024), 0, 1024, true};
    if (!b.s) return NULL;
    sb_printf(&b, "{\"dist\":\"%s\",\"npoints\":%d,\"noise_dim\":%d,\"noise\":\"%s\",\"g_layers\":%d,\"d_layers\":%d",
              DIST_NAMES[s->dist], s->dist == LAB_DIST_DRAWN ? s->npoints : 0, s->noise_dim, NOISE_NAMES[s->noise],
              s->g_layers, s->d_layers);
    units_json(&b, "g_units", s->g_units, s->g_layers);
    units_json(&b, "d_units", s->d_units, s->d_layers);
    sb_printf(&b, ",\"optimizer\":\"%s\",\"loss\":\"%s\",\"lr_g\":%g,\"lr_d\":%g,\"beta1\":%g,\"k_d\":%d,\"k_g\":%d,"
                  "\"batch\":%d,\"seed\":%llu}",
              OPT_NAMES[s->opt], LOSS_NAMES[s->loss], s->lr_g, s->lr_d, s->beta1, s->k_d, s->k_g, s->batch,
              (unsigned long long)s->seed);
    if (!b.ok) { free(b.s); return NULL; }
    return b.s;
}
