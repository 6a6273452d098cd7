/* heldout_split.c: the held-out images of an `atelier classify train` run, as folders that
 * `atelier attack --eval` reads: mirrors split() of src/classify/classify_train.c (per class
 * k, a Fisher-Yates permutation from mix64(seed ^ mix64(0x5eed0000 + k)) of the folder's
 * images in name order; the first round(val n) are held out).
 *
 * usage: heldout_split SEED VAL OUTDIR NAME=DIR...   (symlinks OUTDIR/NAME/FILE -> DIR/FILE)
 * build: cc -O2 -Iinclude tools/heldout_split.c src/rng.c -lm -o heldout_split
 * (tools/attack_readme.sh does this). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/rng.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The image files of dir as dataset_load_dir takes them: .jpg .jpeg .png .webp (any
 * case), regular files, sorted by strcmp. */
static int list_images(const char *dir, char ***names) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0, cap = 64;
    *names = malloc(sizeof(char *) * (size_t)cap);
    for (struct dirent *e; (e = readdir(d));) {
        const char *dot = strrchr(e->d_name, '.');
        char ext[8] = {0}, path[PATH_MAX];
        struct stat st;
        if (!dot || strlen(dot) > 5) continue;
        for (int i = 0; dot[i + 1]; i++) ext[i] = (char)tolower((unsigned char)dot[i + 1]);
        if (strcmp(ext, "jpg") && strcmp(ext, "jpeg") && strcmp(ext, "png") && strcmp(ext, "webp")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (n == cap) *names = realloc(*names, sizeof(char *) * (size_t)(cap *= 2));
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(*names, (size_t)n, sizeof(char *), cmp_str);
    return n;
}

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: heldout_split SEED VAL OUTDIR NAME=DIR...\n"); return 2; }
    uint64_t seed = strtoull(argv[1], NULL, 10);
    double val = atof(argv[2]);
    const char *out = argv[3];
    if (mkdir(out, 0777) != 0 && errno != EEXIST) { perror(out); return 1; }
    for (int k = 0; k + 4 < argc; k++) {
        char name[256], *eq = strchr(argv[k + 4], '=');
        if (!eq) { fprintf(stderr, "heldout_split: want NAME=DIR, not %s\n", argv[k + 4]); return 2; }
        snprintf(name, sizeof name, "%.*s", (int)(eq - argv[k + 4]), argv[k + 4]);
        const char *dir = eq + 1;
        char **names;
        int n = list_images(dir, &names);
        if (n < 1) { fprintf(stderr, "heldout_split: %s: no images\n", dir); return 1; }
        int nv = (int)floor(val * n + 0.5), *p = malloc(sizeof(int) * (size_t)n);
        if (nv > n - 1) nv = n - 1;
        rng r = rng_new(mix64(seed ^ mix64(0x5eed0000u + (uint64_t)k)));
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(rng_u64(&r) % (uint64_t)(i + 1)), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        qsort(p, (size_t)nv, sizeof(int), cmp_int);
        char sub[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], abs_dir[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", out, name);
        if (mkdir(sub, 0777) != 0 && errno != EEXIST) { perror(sub); return 1; }
        if (!realpath(dir, abs_dir)) { perror(dir); return 1; }
        for (int i = 0; i < nv; i++) {
            snprintf(src, sizeof src, "%s/%s", abs_dir, names[p[i]]);
            snprintf(dst, sizeof dst, "%s/%s", sub, names[p[i]]);
            unlink(dst);
            if (symlink(src, dst) != 0) { perror(dst); return 1; }
        }
        printf("%s: %d of %d held out\n", name, nv, n);
        free(p);
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
    }
    return 0;
}
