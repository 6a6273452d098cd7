/* file_internal.h: writing a whole file atomically (shared by gif.c and plot.c).
 *
 * The bytes go to "<path>.tmp-XXXXXX" beside the target, which is fsync'd and renamed over
 * the target, then the directory is fsync'd (best effort): a reader sees the old file or
 * the new one, never a partial one. On failure the temporary file is removed and an
 * existing target is untouched. image.c writes its codecs' output through it too.
 */
#ifndef ATELIER_FILE_INTERNAL_H
#define ATELIER_FILE_INTERNAL_H
#include <stddef.h>
#include <stdio.h>
#include "atelier/error.h"

/* STATUS_OK, or STATUS_IO / STATUS_NOMEM with a message naming path. */
status file_write_atomic(const char *path, const void *data, size_t n);
/* The same with the contents written by w into f (w returns a status, error set). */
typedef status (*file_writer)(FILE *f, void *user);
status file_write_atomic_fn(const char *path, file_writer w, void *user);

#endif
