/* file_atomic.c: whole-file atomic writes (see file_internal.h). */
#include "file_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fsync the directory holding path, so the rename itself is durable (best effort). */
static void sync_dir(const char *path) {
    char *dir = strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    int fd = open(slash ? dir : ".", O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    free(dir);
}

status file_write_atomic_fn(const char *path, file_writer w, void *user) {
    if (!path || !path[0]) return error_set(STATUS_ARG, "write: empty path");
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return error_set(STATUS_NOMEM, "%s: out of memory", path);
    snprintf(tmp, len + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        status s = error_set(STATUS_IO, "%s: cannot create a file there: %s", path, strerror(errno));
        free(tmp);
        return s;
    }
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    status s = f ? w(f, user) : error_set(STATUS_IO, "%s: fdopen: %s", path, strerror(errno));
    if (s == STATUS_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        s = error_set(STATUS_IO, "%s: write failed: %s", path, strerror(errno));
    if ((f ? fclose(f) : close(fd)) != 0 && s == STATUS_OK)
        s = error_set(STATUS_IO, "%s: close failed: %s", path, strerror(errno));
    if (s == STATUS_OK && rename(tmp, path) != 0)
        s = error_set(STATUS_IO, "%s: cannot replace the target: %s", path, strerror(errno));
    if (s != STATUS_OK) unlink(tmp);
    else sync_dir(path);
    free(tmp);
    return s;
}

typedef struct bytes { const char *path; const void *data; size_t n; } bytes;

static status write_bytes(FILE *f, void *user) {
    const bytes *b = user;
    if (b->n && fwrite(b->data, 1, b->n, f) != b->n)
        return error_set(STATUS_IO, "%s: write failed: %s", b->path, strerror(errno));
    return STATUS_OK;
}

status file_write_atomic(const char *path, const void *data, size_t n) {
    bytes b = {path, data, n};
    return file_write_atomic_fn(path, write_bytes, &b);
}
