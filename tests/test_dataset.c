/* test_dataset.c: image folders as training data (dataset.h, src/dataset.c).
 *
 * A temporary folder gets synthetic images of several sizes and formats: an RGBA PNG
 * (image_write), a grey PNG (libpng directly: our writer makes RGB or RGBA only), a JPEG
 * with an upper-case extension, a lossless WebP smaller than the target (enlarged), plus a
 * text file and a subfolder named like an image, both ignored. Each image is one colour
 * over a central region large enough that the crop's middle pixels only see that colour
 * through the resize, so their values are known exactly (8-bit levels survive PNG and
 * lossless WebP; JPEG is lossy, hence a tolerance there).
 */
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/dataset.h"
#include "harness.h"

#define S 16  /* the dataset's size */

static char g_dir[256];  /* the image folder */

/* A w x h image: colour rgb (8-bit levels) over rows [y0, y1) x cols [x0, x1), elsewhere
 * a ramp that differs left and right (so a flip is visible); alpha (if c == 4) 128 inside,
 * 0 outside. */
static image *make_image(int w, int h, int c, const int rgb[3], int x0, int x1, int y0, int y1) {
    image *im = image_new(w, h, c);
    size_t plane = (size_t)w * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            bool in = x >= x0 && x < x1 && y >= y0 && y < y1;
            for (int ch = 0; ch < 3; ch++)
                im->data[ch * plane + y * w + x] = (float)(in ? rgb[ch] : (7 * x + 3 * y + 40 * ch) % 256) / 255.0f;
            if (c == 4) im->data[3 * plane + y * w + x] = in ? 128.0f / 255 : 0.0f;
        }
    return im;
}

/* An 8-bit grey PNG: v inside rows [y0, y1) x cols [x0, x1), a left-right ramp outside. */
static void write_grey_png(const char *path, int w, int h, int v, int x0, int x1, int y0, int y1) {
    unsigned char *px = malloc((size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[y * w + x] = (unsigned char)(x >= x0 && x < x1 && y >= y0 && y < y1 ? v : 9 * x + y);
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, px + y * w);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(px);
}

static const int RGBA_COLOUR[3] = {204, 51, 102}, JPEG_COLOUR[3] = {51, 153, 102};
static const int WEBP_COLOUR[3] = {10, 200, 90}, GREY = 77;

static void write_file(const char *name, const char *text) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

/* The folder of the tests: 4 images, 2 files to ignore. */
static bool make_folder(void) {
    char path[300];
    snprintf(g_dir, sizeof g_dir, "%s/images", test_dir);
    if (mkdir(g_dir, 0755) != 0) return false;
    // grey 20x30 (portrait): short side 20 -> 16x24, crop rows 4..19
    snprintf(path, sizeof path, "%s/a_grey.png", g_dir);
    write_grey_png(path, 20, 30, GREY, 5, 15, 8, 22);
    // RGBA 40x24: -> 27x16, crop cols 5..20; alpha dropped, colour kept as it is
    image *im = make_image(40, 24, 4, RGBA_COLOUR, 10, 30, 6, 18);
    snprintf(path, sizeof path, "%s/b_rgba.png", g_dir);
    bool ok = image_write(path, im, NULL) == STATUS_OK;
    image_free(im);
    // JPEG 16x16, one colour, upper-case extension: no resize
    im = make_image(16, 16, 3, JPEG_COLOUR, 0, 16, 0, 16);
    snprintf(path, sizeof path, "%s/c_photo.JPG", g_dir);
    ok &= image_write(path, im, &(image_write_opts){.quality = 95}) == STATUS_OK;
    image_free(im);
    // lossless WebP 8x12, one colour: enlarged (Lanczos) to 16x24, crop rows 4..19
    im = make_image(8, 12, 3, WEBP_COLOUR, 0, 8, 0, 12);
    snprintf(path, sizeof path, "%s/d_small.webp", g_dir);
    ok &= image_write(path, im, &(image_write_opts){.webp_lossless = true}) == STATUS_OK;
    image_free(im);
    write_file("notes.txt", "not an image\n");
    snprintf(path, sizeof path, "%s/sub.png", g_dir);  // a folder with an image's name
    ok &= mkdir(path, 0755) == 0;
    return ok;
}

static int px(const dataset *ds, int i, int c, int y, int x) {
    return ds->pixels[(((size_t)i * 3 + c) * S + y) * S + x];
}

static void test_load(void) {
    dataset *ds = dataset_load_dir(g_dir, S, 0);
    CHECK_OK(ds);
    if (!ds) return;
    CHECK(ds->n == 4 && ds->size == S);
    const char *want[] = {"a_grey.png", "b_rgba.png", "c_photo.JPG", "d_small.webp"};
    for (int i = 0; i < 4 && i < ds->n; i++)
        CHECK_MSG(strcmp(ds->names[i], want[i]) == 0, "name %d: %s, want %s", i, ds->names[i], want[i]);
    // the middle of each crop only sees the central colour through the resize
    for (int y = 6; y <= 10; y++)
        for (int x = 6; x <= 10; x++)
            for (int c = 0; c < 3; c++) {
                CHECK(px(ds, 0, c, y, x) == GREY);
                CHECK(px(ds, 1, c, y, x) == RGBA_COLOUR[c]);
                CHECK_NEAR(px(ds, 2, c, y, x), JPEG_COLOUR[c], 3, 0);  // lossy
            }
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int c = 0; c < 3; c++) CHECK(px(ds, 3, c, y, x) == WEBP_COLOUR[c]);  // enlarged
    // the grey image's ramp outside the centre: crop (0, 0) is resized (0, 4), the mean of
    // source rows 5..6.25 and cols 0..1.25 (area 1.25 x 1.25): away from the centre colour
    CHECK(px(ds, 0, 0, 0, 0) != GREY && px(ds, 0, 0, 0, 0) == px(ds, 0, 2, 0, 0));
    dataset_free(ds);
    // max_images keeps the first names
    ds = dataset_load_dir(g_dir, 8, 2);
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 2 && ds->size == 8 && strcmp(ds->names[1], "b_rgba.png") == 0);
    dataset_free(ds);
    dataset_free(NULL);
}

/* Loading dir at size must fail with status s and a message containing part. */
static void check_load_fails(const char *dir, int size, status s, const char *part) {
    error_clear();
    dataset *ds = dataset_load_dir(dir, size, 0);
    CHECK_MSG(!ds, "loading '%s' at %d succeeded", dir, size);
    CHECK_MSG(error_status() == s, "'%s': status %s, want %s (%s)", dir, status_name(error_status()),
              status_name(s), error_message());
    CHECK_MSG(strstr(error_message(), part), "'%s': message '%s' lacks '%s'", dir, error_message(), part);
    dataset_free(ds);
    error_clear();
}

static void test_load_errors(void) {
    char empty[300], bad[300], path[320], missing[300];
    snprintf(empty, sizeof empty, "%s/empty", test_dir);
    snprintf(bad, sizeof bad, "%s/bad", test_dir);
    snprintf(missing, sizeof missing, "%s/missing", test_dir);
    mkdir(empty, 0755);
    mkdir(bad, 0755);
    check_load_fails(empty, S, STATUS_IO, empty);
    check_load_fails(missing, S, STATUS_IO, missing);
    check_load_fails(g_dir, 7, STATUS_ARG, "size 7");
    check_load_fails(g_dir, 1025, STATUS_ARG, "size 1025");
    // a truncated PNG among good ones: the error names it
    snprintf(path, sizeof path, "%s/a_good.png", bad);
    image *im = make_image(24, 24, 3, RGBA_COLOUR, 0, 24, 0, 24);
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    snprintf(path, sizeof path, "%s/b_broken.png", bad);
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    image_free(im);
    size_t n;
    unsigned char *bytes = test_read_file(path, &n);
    FILE *f = fopen(path, "wb");
    if (bytes && f) fwrite(bytes, 1, n / 2, f);
    if (f) fclose(f);
    free(bytes);
    error_clear();
    CHECK(dataset_load_dir(bad, S, 0) == NULL && strstr(error_message(), "b_broken.png"));
    error_clear();
    dataset *first = dataset_load_dir(bad, S, 1);  // max_images 1: b_broken.png is never read
    CHECK_OK(first);
    dataset_free(first);
}

static void test_batch_and_flip(void) {
    dataset *ds = dataset_load_dir(g_dir, S, 0);
    CHECK_OK(ds);
    if (!ds) return;
    arena *a = arena_new(1 << 16);
    int idx[3] = {1, 0, 0};
    bool flip[3] = {false, false, true};
    tensor *t = dataset_batch(ds, a, idx, flip, 3);
    CHECK_OK(t);
    if (t) {
        CHECK(t->ndim == 4 && t->shape[0] == 3 && t->shape[1] == 3 && t->shape[2] == S && t->shape[3] == S);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    CHECK(t->data[(c * S + y) * S + x] == (float)px(ds, 1, c, y, x) / 127.5f - 1.0f);
        // entries 1 and 2 are image 0 (a_grey.png); entry 2 mirrors entry 1 exactly
        CHECK_NEAR(t->data[(3 * S + 8) * S + 8], GREY / 127.5 - 1, 1e-6, 0);
        int mirrored = 0, differ = 0;
        for (int r = 0; r < 3 * S; r++)
            for (int x = 0; x < S; x++) {
                float u = t->data[(3 * S + r) * S + x], v = t->data[(6 * S + r) * S + (S - 1 - x)];
                mirrored += u == v;
                differ += u != t->data[(6 * S + r) * S + x];
            }
        CHECK(mirrored == 3 * S * S);
        CHECK(differ > 0);  // the image is not symmetric: the flip did something
    }
    CHECK(dataset_batch(ds, a, idx, NULL, 2) != NULL);  // no flips
    CHECK_FAILS(dataset_batch(ds, a, (int[]){0, 4}, NULL, 2), STATUS_ARG, "index 4");
    CHECK_FAILS(dataset_batch(ds, a, (int[]){-1}, NULL, 1), STATUS_ARG, "index -1");
    arena_free(a);
    dataset_free(ds);
}

/* Every epoch a permutation; over k epochs every index k times. */
static void test_draw_epochs(void) {
    enum { N = 10, B = 5, EPOCHS = 4 };
    int idx[EPOCHS * N], again[B], count[N] = {0};
    bool flip[B];
    for (int s = 0; s < EPOCHS * N / B; s++)
        CHECK(dataset_draw(1, (uint64_t)s, N, B, false, idx + s * B, flip) == STATUS_OK);
    for (int e = 0; e < EPOCHS; e++) {
        int seen[N] = {0};
        for (int i = 0; i < N; i++) seen[idx[e * N + i]]++, count[idx[e * N + i]]++;
        for (int i = 0; i < N; i++) CHECK_MSG(seen[i] == 1, "epoch %d: index %d seen %d times", e, i, seen[i]);
    }
    for (int i = 0; i < N; i++) CHECK(count[i] == EPOCHS);
    CHECK(memcmp(idx, idx + N, N * sizeof(int)) != 0);  // each epoch its own order
    // a pure function of (seed, step): step 5 again, alone
    CHECK(dataset_draw(1, 5, N, B, false, again, flip) == STATUS_OK);
    CHECK(memcmp(again, idx + 5 * B, sizeof again) == 0);
    // another seed, another order
    int other[EPOCHS * N];
    for (int s = 0; s < EPOCHS * N / B; s++) dataset_draw(2, (uint64_t)s, N, B, false, other + s * B, flip);
    CHECK(memcmp(idx, other, sizeof idx) != 0);
}

/* Batches longer than the dataset span several epochs, each still a permutation. */
static void test_draw_batch_over_epochs(void) {
    enum { N = 3, B = 7, STEPS = 3 };
    int idx[B * STEPS];
    bool flip[B];
    for (int s = 0; s < STEPS; s++) CHECK(dataset_draw(9, (uint64_t)s, N, B, false, idx + s * B, flip) == STATUS_OK);
    for (int e = 0; e < B * STEPS / N; e++) {
        int mask = 0;
        for (int i = 0; i < N; i++) mask |= 1 << idx[e * N + i];
        CHECK_MSG(mask == 7, "epoch %d is not a permutation", e);
    }
}

static void test_draw_flips(void) {
    enum { B = 10, STEPS = 100 };
    int idx[B], heads = 0;
    bool flip[B], again[B];
    for (int s = 0; s < STEPS; s++) {
        CHECK(dataset_draw(3, (uint64_t)s, 20, B, false, idx, flip) == STATUS_OK);
        for (int i = 0; i < B; i++) CHECK(!flip[i]);
        dataset_draw(3, (uint64_t)s, 20, B, true, idx, flip);
        dataset_draw(3, (uint64_t)s, 20, B, true, idx, again);
        CHECK(memcmp(flip, again, sizeof flip) == 0);
        for (int i = 0; i < B; i++) heads += flip[i];
    }
    CHECK_MSG(heads > 420 && heads < 580, "%d heads of 1000", heads);  // 5 sd: 79
    error_clear();
    CHECK(dataset_draw(3, 0, 0, B, true, idx, flip) == STATUS_ARG);
    CHECK(dataset_draw(3, 0, 5, 0, true, idx, flip) == STATUS_ARG);
    CHECK(strstr(error_message(), "dataset_draw"));
    error_clear();
}

/* Reads back an 8-bit level of the grid. */
static int level(const image *im, int c, int x, int y) {
    return (int)(im->data[((size_t)c * im->h + y) * im->w + x] * 255.0f + 0.5f);
}

static void test_grid(void) {
    enum { N = 5, H = 6, W = 4 };
    arena *a = arena_new(1 << 16);
    tensor *t = tensor_new(a, 4, (int[]){N, 3, H, W});
    for (int k = 0; k < N; k++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < H * W; i++)
                t->data[(k * 3 + c) * H * W + i] = 2.0f * (20 * k + 50 * c + 10) / 255.0f - 1.0f;
    for (int c = 0; c < 3; c++) t->data[(3 * 3 + c) * H * W] = -1.0f;  // image 3's top-left: black
    char path[300];
    snprintf(path, sizeof path, "%s/grid.png", test_dir);
    int before = test_count_entries(test_dir);
    CHECK(dataset_write_grid(path, t, 3) == STATUS_OK);
    CHECK(test_count_entries(test_dir) == before + 1);  // no temporary file left
    image *im = image_read(path, NULL);
    CHECK_OK(im);
    if (im) {
        CHECK(im->w == 3 * W + 4 * 2 && im->h == 2 * H + 3 * 2);  // 20 x 18
        for (int c = 0; c < 3; c++) {
            CHECK(level(im, c, 0, 0) == 255 && level(im, c, 1, 9) == 255);    // outer gutter
            CHECK(level(im, c, 6, 3) == 255 && level(im, c, 7, 8) == 255);    // between cells
            CHECK(level(im, c, 2 + 2 * (W + 2) + 3, 2 + 5) == 20 * 2 + 50 * c + 10);  // cell (0, 2)
            CHECK(level(im, c, 2, 2 + H + 2) == 0);                          // image 3's corner
            CHECK(level(im, c, 3, 2 + H + 2) == 20 * 3 + 50 * c + 10);        // cell (1, 0)
            CHECK(level(im, c, 2 + (W + 2) + 1, 2 + H + 2 + 4) == 20 * 4 + 50 * c + 10);  // (1, 1)
            CHECK(level(im, c, 2 + 2 * (W + 2) + 1, 2 + H + 2 + 1) == 255);   // empty cell (1, 2)
        }
    }
    image_free(im);
    // more columns than images: one row of N; grey images
    tensor *g = tensor_fill(tensor_new(a, 4, (int[]){2, 1, H, W}), 0.0f);
    CHECK(dataset_write_grid(path, g, 10) == STATUS_OK);
    im = image_read(path, NULL);
    CHECK(im && im->w == 2 * W + 3 * 2 && im->h == H + 4 && level(im, 1, 2, 2) == 128);
    image_free(im);
    error_clear();
    CHECK(dataset_write_grid(path, t, 0) == STATUS_ARG);
    error_clear();
    CHECK(dataset_write_grid(path, tensor_new(a, 3, (int[]){3, H, W}), 2) == STATUS_SHAPE);
    CHECK(strstr(error_message(), "(3, 6, 4)"));
    error_clear();
    snprintf(path, sizeof path, "%s/grid.gif", test_dir);
    CHECK(dataset_write_grid(path, t, 2) != STATUS_OK);
    error_clear();
    arena_free(a);
}

int main(void) {
    if (!test_make_dir()) return 1;
    if (!make_folder()) { fprintf(stderr, "cannot make the image folder in %s\n", test_dir); return 1; }
    RUN(test_load);
    RUN(test_load_errors);
    RUN(test_batch_and_flip);
    RUN(test_draw_epochs);
    RUN(test_draw_batch_over_epochs);
    RUN(test_draw_flips);
    RUN(test_grid);
    test_remove_tree(test_dir);
    return test_finish();
}
