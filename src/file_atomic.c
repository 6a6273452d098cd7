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

/* write(2) all n bytes, retrying short writes and EINTR. */
static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

status file_write_atomic(const char *path, const void *data, size_t n) {
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
    status s = STATUS_OK;
    if (write_all(fd, data, n) != 0 || fsync(fd) != 0)
        s = error_set(STATUS_IO, "%s: write failed: %s", path, strerror(errno));
    if (close(fd) != 0 && s == STATUS_OK)
        s = error_set(STATUS_IO, "%s: close failed: %s", path, strerror(errno));
    if (s == STATUS_OK && rename(tmp, path) != 0)
        s = error_set(STATUS_IO, "%s: cannot replace the target: %s", path, strerror(errno));
    if (s != STATUS_OK) unlink(tmp);
    else sync_dir(path);
    free(tmp);
    return s;
}
