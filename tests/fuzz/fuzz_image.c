/* fuzz_image.c: libFuzzer target for image decoding (image.h): PNG, JPEG and WebP, the
 * format sniffed from the bytes.
 *
 * image.h reads from a path only, so each input is written to a memory file (memfd) and
 * read through /proc/self/fd/N by image_read (4 megapixels at most; below), as the program reads a
 * user's file. It must come back as an image or as NULL with one line in error_message():
 * never a crash, a leak or a hang. Nor a large allocation: PNG and JPEG size nothing from
 * what a file claims before checking that the file holds it, and the pixel limit is set to
 * 4 megapixels here (WebP reserves its output from the header, image.h), so an allocation
 * over -malloc_limit_mb (256 MB) is a file believed for more than it holds.
 * A decoded image must be 3 or 4 planes of values in [0, 1] whose text can be looked up;
 * a small one is also resized, as every consumer does. Built and run by scripts/fuzz.sh. */
#define _GNU_SOURCE   /* memfd_create */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "atelier/image.h"

static int fd = -1;
static char path[64];

static void check(const image *im) {
    if (im->w < 1 || im->h < 1 || (im->c != 3 && im->c != 4) || !im->data) abort();
    int64_t n = (int64_t)im->w * im->h * im->c;
    for (int64_t i = 0; i < n; i++)
        if (!(im->data[i] >= 0.0f && im->data[i] <= 1.0f)) abort();
    for (int i = 0; i < im->ntext; i++) {
        const image_text *t = &im->text[i];
        if (!t->key || !t->value || image_text_get(im, t->key) == NULL) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fd < 0) {
        if ((fd = memfd_create("fuzz-image", MFD_CLOEXEC)) < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) abort();
    error_clear();
    /* 4 megapixels: a few bytes of WebP may be a real picture of the 100 MP default (and
     * its output is reserved from the header, image.h), which -malloc_limit_mb would flag */
    image_read_opts ro = {.max_pixels = 4 << 20};
    image *im = image_read(path, &ro);
    if (!im) {
        if (!error_message()[0] || strchr(error_message(), '\n')) abort();   /* one line, always */
        error_clear();
        return 0;
    }
    check(im);
    if ((int64_t)im->w * im->h <= 1 << 16) {
        image *small = image_resize(im, 1 + im->w / 3, 1 + im->h / 2);
        if (!small) abort();
        image_free(small);
    }
    image_free(im);
    return 0;
}
