/* serve_styles.c: the style gallery (serve_internal.h): the image files of the styles
 * folder, listed once at start, and their thumbnails, made on first request into
 * data_dir/thumbs/N.jpg (N the style's index: no path comes from a name). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "serve_internal.h"

#define THUMB_SIDE 256

/* "name.ext" with an image extension and a well-formed name: the name's length, else 0. */
static size_t style_name_len(const char *file) {
    const char *dot = strrchr(file, '.');
    if (!dot || (strcasecmp(dot, ".png") && strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".webp")))
        return 0;
    size_t n = (size_t)(dot - file);
    if (n == 0 || n > 63 || file[0] == '.' || file[0] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!((file[i] >= 'a' && file[i] <= 'z') || (file[i] >= 'A' && file[i] <= 'Z') || (file[i] >= '0' && file[i] <= '9') ||
              strchr("_.-", file[i])))
            return 0;
    return n;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const style_entry *)a)->name, ((const style_entry *)b)->name);
}

/* Adds dir/file as a style unless it is not a regular file or its name is taken. */
static status add_style(styles *g, int *cap, const char *dir, const char *file, size_t len) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return STATUS_OK;
    char name[64];
    memcpy(name, file, len);
    name[len] = 0;
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->items[i].name, name)) return STATUS_OK;   /* a.jpg and a.png: the first */
    if (g->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        style_entry *items = realloc(g->items, (size_t)*cap * sizeof *items);
        if (!items) return error_set(STATUS_NOMEM, "styles: out of memory");
        g->items = items;
    }
    style_entry *e = &g->items[g->n];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, len + 1);
    if (!(e->path = strdup(path))) return error_set(STATUS_NOMEM, "styles: out of memory");
    g->n++;
    return STATUS_OK;
}

styles *styles_scan(const char *dir, const char *thumb_dir) {
    styles *g = calloc(1, sizeof *g);
    if (!g || !(g->thumb_dir = strdup(thumb_dir))) {
        free(g);
        error_set(STATUS_NOMEM, "styles: out of memory");
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    if (!dir) return g;
    DIR *d = opendir(dir);
    if (!d) {
        error_set(STATUS_IO, "%s: cannot list the styles: %s", dir, strerror(errno));
        styles_free(g);
        return NULL;
    }
    int cap = 0;
    status st = STATUS_OK;
    for (struct dirent *e; st == STATUS_OK && (e = readdir(d));) {
        size_t len = style_name_len(e->d_name);
        if (len) st = add_style(g, &cap, dir, e->d_name, len);
    }
    closedir(d);
    if (st != STATUS_OK) { styles_free(g); return NULL; }
    if (g->n) qsort(g->items, (size_t)g->n, sizeof *g->items, by_name);
    return g;
}

void styles_free(styles *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) free(g->items[i].path);
    free(g->items);
    free(g->thumb_dir);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

int styles_find(const styles *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->items[i].name, name)) return i;
    return -1;
}

static status make_thumb(const style_entry *e, const char *path) {
    image *im = image_read(e->path, NULL);
    if (!im) return error_status();
    bool big = im->w > THUMB_SIDE || im->h > THUMB_SIDE;
    image *small = big ? image_resize_long_side(im, THUMB_SIDE) : NULL;
    image_write_opts wo = {.quality = 85};
    status st = big && !small ? error_status() : image_write(path, small ? small : im, &wo);
    image_free(small);
    image_free(im);
    return st;
}

bool styles_thumb(styles *g, int index, char *path, size_t size) {
    snprintf(path, size, "%s/%d.jpg", g->thumb_dir, index);
    pthread_mutex_lock(&g->mu);
    status st = STATUS_OK;
    if (!g->items[index].thumb_made) {
        if (mkdir(g->thumb_dir, 0755) != 0 && errno != EEXIST)
            st = error_set(STATUS_IO, "%s: cannot make the folder: %s", g->thumb_dir, strerror(errno));
        if (st == STATUS_OK) st = make_thumb(&g->items[index], path);
        g->items[index].thumb_made = st == STATUS_OK;
    }
    pthread_mutex_unlock(&g->mu);
    return st == STATUS_OK;
}
