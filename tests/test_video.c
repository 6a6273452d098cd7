/* video.h and `atelier video` end to end on a clip the test makes: a textured pattern
 * moving right by a known shift, encoded with libavcodec (MPEG-4 part 2 video, AAC audio: a
 * 440 Hz sine) into MP4. Decoding keeps the frame count, size, fps and audio; the CLI's
 * MP4 keeps them too (the AAC copied packet for packet), its WebM re-encodes the audio to
 * Opus; frames folders in and out; GIF out; start, duration, size and fps; the display
 * rotation; the consistent output's warping error below per-frame's (--report); every bad
 * input gets one line, a non-zero exit and no output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include "atelier/stylenet.h"
#include "atelier/video.h"
#include "harness.h"

#define W 96
#define H 64
#define FPS 12
#define NFRAMES 12   /* 1 s */
#define SHIFT 2   /* pixels a frame, to the right */

/* The pattern at frame t: p(x - SHIFT t, y), smooth enough for the flow, textured enough
 * for the network. */
static float pattern(int c, int x, int y, int t) {
    double u = x - SHIFT * t;
    return (float)(0.5 + 0.3 * sin(0.37 * u + 1.1 * c) * cos(0.29 * y) + 0.15 * sin(0.11 * u * (c + 1) + 0.21 * y));
}

typedef struct clip_opts { bool video, audio; int rotate; } clip_opts;

static bool encode_send(AVFormatContext *oc, AVCodecContext *enc, AVStream *st, AVFrame *f, AVPacket *pkt) {
    if (avcodec_send_frame(enc, f) < 0) return false;
    while (avcodec_receive_packet(enc, pkt) == 0) {
        av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
        pkt->stream_index = st->index;
        if (av_interleaved_write_frame(oc, pkt) < 0) return false;
    }
    return true;
}

/* The clip: NFRAMES frames of W x H at FPS (MPEG-4), and/or as long a sine (AAC). */
static bool make_clip(const char *path, clip_opts o) {
    AVFormatContext *oc = NULL;
    if (avformat_alloc_output_context2(&oc, NULL, NULL, path) < 0) return false;
    AVCodecContext *ve = NULL, *ae = NULL;
    AVStream *vs = NULL, *as = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    bool ok = pkt && f;
    if (ok && o.video) {
        const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
        ve = avcodec_alloc_context3(c);
        vs = avformat_new_stream(oc, NULL);
        ve->width = W, ve->height = H, ve->pix_fmt = AV_PIX_FMT_YUV420P;
        ve->time_base = (AVRational){1, FPS}, ve->framerate = (AVRational){FPS, 1};
        ve->gop_size = 6, ve->bit_rate = 800000;
        if (oc->oformat->flags & AVFMT_GLOBALHEADER) ve->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        ok = avcodec_open2(ve, c, NULL) >= 0 && avcodec_parameters_from_context(vs->codecpar, ve) >= 0;
        vs->time_base = ve->time_base;
        if (ok && o.rotate) {
            uint8_t *m = av_stream_new_side_data(vs, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
            if (m) av_display_rotation_set((int32_t *)m, o.rotate);
        }
    }
    if (ok && o.audio) {
        const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_AAC);
        ae = avcodec_alloc_context3(c);
        as = avformat_new_stream(oc, NULL);
        ae->sample_rate = 44100, ae->sample_fmt = AV_SAMPLE_FMT_FLTP, ae->bit_rate = 64000;
        av_channel_layout_default(&ae->ch_layout, 1);
        ae->time_base = (AVRational){1, 44100};
        if (oc->oformat->flags & AVFMT_GLOBALHEADER) ae->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        ok = avcodec_open2(ae, c, NULL) >= 0 && avcodec_parameters_from_context(as->codecpar, ae) >= 0;
        as->time_base = ae->time_base;
    }
    ok = ok && avio_open(&oc->pb, path, AVIO_FLAG_WRITE) >= 0 && avformat_write_header(oc, NULL) >= 0;
    int64_t samples = 0;
    for (int t = 0; ok && t < NFRAMES; t++) {
        if (ve) {
            av_frame_unref(f);
            f->format = AV_PIX_FMT_YUV420P, f->width = W, f->height = H;
            ok = av_frame_get_buffer(f, 0) >= 0;
            for (int y = 0; ok && y < H; y++)
                for (int x = 0; x < W; x++) {
                    float r = pattern(0, x, y, t), g = pattern(1, x, y, t), b = pattern(2, x, y, t);
                    f->data[0][y * f->linesize[0] + x] = (uint8_t)lrintf(16 + 219 * (0.299f * r + 0.587f * g + 0.114f * b));
                    if (!(x & 1) && !(y & 1)) {
                        f->data[1][(y / 2) * f->linesize[1] + x / 2] = (uint8_t)lrintf(128 + 224 * (-0.169f * r - 0.331f * g + 0.5f * b));
                        f->data[2][(y / 2) * f->linesize[2] + x / 2] = (uint8_t)lrintf(128 + 224 * (0.5f * r - 0.419f * g - 0.081f * b));
                    }
                }
            f->pts = t;
            ok = ok && encode_send(oc, ve, vs, f, pkt);
        }
        while (ok && ae && samples < (int64_t)(t + 1) * 44100 / FPS) {   /* audio up to this frame's end */
            av_frame_unref(f);
            f->format = AV_SAMPLE_FMT_FLTP, f->nb_samples = ae->frame_size, f->sample_rate = 44100;
            av_channel_layout_default(&f->ch_layout, 1);
            ok = av_frame_get_buffer(f, 0) >= 0;
            for (int i = 0; ok && i < f->nb_samples; i++) ((float *)f->data[0])[i] = 0.3f * (float)sin(2 * M_PI * 440 * (samples + i) / 44100.0);
            f->pts = samples;
            samples += f->nb_samples;
            ok = ok && encode_send(oc, ae, as, f, pkt);
        }
    }
    if (ok && ve) ok = encode_send(oc, ve, vs, NULL, pkt);
    if (ok && ae) ok = encode_send(oc, ae, as, NULL, pkt);
    if (ok) ok = av_write_trailer(oc) >= 0;
    if (oc->pb) avio_closep(&oc->pb);
    avcodec_free_context(&ve);
    avcodec_free_context(&ae);
    av_frame_free(&f);
    av_packet_free(&pkt);
    avformat_free_context(oc);
    return ok;
}

/* The audio codec of a file's first audio stream (AV_CODEC_ID_NONE if none). */
static enum AVCodecID audio_codec(const char *path) {
    AVFormatContext *ic = NULL;
    enum AVCodecID id = AV_CODEC_ID_NONE;
    if (avformat_open_input(&ic, path, NULL, NULL) < 0) return id;
    if (avformat_find_stream_info(ic, NULL) >= 0) {
        int a = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
        if (a >= 0) id = ic->streams[a]->codecpar->codec_id;
    }
    avformat_close_input(&ic);
    return id;
}

static int run(const char *args, char *out, char *err) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && " ATELIER_BIN " %s", test_dir, args);
    return test_shell(cmd, out, err);
}


/* Reads a whole video: its frame count, or -1 (and a failure recorded). */
static int count_frames(const char *name, const video_read_opts *o, video_info *info) {
    video_reader *r = video_open(test_tmp_path(name), o);
    CHECK_MSG(r, "open %s: %s", name, error_message());
    if (!r) return -1;
    *info = *video_reader_info(r);
    int n = 0, got;
    image *im;
    while ((got = video_read_frame(r, &im)) == 1) { n++; image_free(im); }
    CHECK_MSG(got == 0, "%s: %s", name, error_message());
    video_close(r);
    return n;
}

static bool have_model;

static void test_make_and_read(void) {
    CHECK(make_clip(test_tmp_path("clip.mp4"), (clip_opts){.video = true, .audio = true}));
    CHECK(make_clip(test_tmp_path("audio.m4a"), (clip_opts){.audio = true}));
    CHECK(make_clip(test_tmp_path("turned.mp4"), (clip_opts){.video = true, .rotate = 90}));
    FILE *f = fopen(test_tmp_path("notes.mp4"), "w");
    CHECK(f && fputs("this is not a video, only some text\n", f) >= 0);
    if (f) fclose(f);
    video_reader *r = video_open(test_tmp_path("clip.mp4"), NULL);
    CHECK_MSG(r, "%s", error_message());
    if (!r) return;
    const video_info *vi = video_reader_info(r);
    CHECK(vi->width == W && vi->height == H && vi->frames == NFRAMES && vi->has_audio && !vi->is_folder);
    CHECK_NEAR(vi->fps, FPS, 1e-9, 0);
    CHECK_NEAR(vi->duration, (double)NFRAMES / FPS, 0.1, 0);
    CHECK(!strcmp(vi->codec, "mpeg4"));
    /* the decoded frames are the pattern (within the codec's loss), each shifted by SHIFT */
    image *im;
    int n = 0;
    double worst = 0;
    while (video_read_frame(r, &im) == 1) {
        double err = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 8; y < H - 8; y++)
                for (int x = 8; x < W - 8; x++) err += fabs(im->data[(c * H + y) * W + x] - pattern(c, x, y, n));
        err /= 3.0 * (H - 16) * (W - 16);
        if (err > worst) worst = err;
        image_free(im);
        n++;
    }
    CHECK_MSG(worst < 0.05, "decoded frames differ from the pattern by %g on average", worst);
    CHECK(n == NFRAMES);
    video_close(r);
    /* the display matrix: turn 90 degrees clockwise to show, so frames come upright */
    video_info ti;
    CHECK(count_frames("turned.mp4", NULL, &ti) == NFRAMES);
    CHECK_MSG(ti.width == H && ti.height == W && ti.rotation == 90, "turned: %dx%d, rotation %d", ti.width, ti.height, ti.rotation);
}

static void test_read_options(void) {
    video_info vi;
    video_read_opts o = video_read_defaults();
    o.start = 0.25, o.duration = 0.5, o.fps = 2 * FPS, o.size = 48;
    CHECK(count_frames("clip.mp4", &o, &vi) == FPS);   /* 0.5 s at 24 fps: each frame twice */
    CHECK(vi.width == 48 && vi.height == 32 && vi.frames == FPS);
    o = video_read_defaults();
    o.fps = FPS / 2;
    CHECK(count_frames("clip.mp4", &o, &vi) == NFRAMES / 2);   /* every other frame dropped */
}

static void test_cli_round_trip(void) {
    if (!have_model) { test_skip("the built-in kit-styles model is not in this build"); return; }
    char out[8192], err[8192];
    video_info vi;
    CHECK_MSG(run("video clip.mp4 -o out.mp4 --quiet", out, err) == 0, "%s", err);
    CHECK(count_frames("out.mp4", NULL, &vi) == NFRAMES);
    CHECK(vi.width == W && vi.height == H && vi.has_audio && fabs(vi.fps - FPS) < 1e-9 && !strcmp(vi.codec, "h264"));
    CHECK_NEAR(vi.duration, (double)NFRAMES / FPS, 0.1, 0);
    CHECK(audio_codec(test_tmp_path("out.mp4")) == AV_CODEC_ID_AAC);   /* copied */
    CHECK_MSG(run("video clip.mp4 -o out.webm --no-temporal --quiet", out, err) == 0, "%s", err);
    CHECK(count_frames("out.webm", NULL, &vi) == NFRAMES);
    CHECK(vi.width == W && vi.height == H && vi.has_audio && !strcmp(vi.codec, "vp9"));
    enum AVCodecID ac = audio_codec(test_tmp_path("out.webm"));
    CHECK(ac == AV_CODEC_ID_OPUS || ac == AV_CODEC_ID_VORBIS);   /* re-encoded */
    /* a part, resized and resampled; the audio follows */
    CHECK_MSG(run("video clip.mp4 -o part.mp4 --start 0.25 --duration 0.5 --size 48 --fps 24 --quiet", out, err) == 0, "%s", err);
    CHECK(count_frames("part.mp4", NULL, &vi) == 12 && vi.width == 48 && vi.height == 32 && vi.has_audio);
    CHECK_NEAR(vi.duration, 0.5, 0.1, 0);
    /* frames folder out, then in; GIF out */
    CHECK_MSG(run("video clip.mp4 -o frames/ --quiet", out, err) == 0, "%s", err);
    CHECK(test_count_entries(test_tmp_path("frames")) == NFRAMES && test_exists("frames/frame_000001.png") && test_exists("frames/frame_000012.png"));
    CHECK_MSG(run("video frames -o fromdir.mp4 --fps 12 --quiet", out, err) == 0, "%s", err);
    CHECK(count_frames("fromdir.mp4", NULL, &vi) == NFRAMES && fabs(vi.fps - FPS) < 1e-9 && !vi.has_audio);
    CHECK(count_frames("frames", NULL, &vi) == NFRAMES && vi.is_folder && fabs(vi.fps - VIDEO_FOLDER_FPS) < 1e-9);
    CHECK_MSG(run("video clip.mp4 -o anim.gif --quiet", out, err) == 0, "%s", err);
    size_t n;
    unsigned char *gif = test_read_file(test_tmp_path("anim.gif"), &n);
    CHECK(gif && n > 1000 && !memcmp(gif, "GIF89a", 6) && gif[n - 1] == 0x3B);
    free(gif);
    /* a rotated input comes out upright */
    CHECK_MSG(run("video turned.mp4 -o upright.mp4 --quiet", out, err) == 0, "%s", err);
    CHECK(count_frames("upright.mp4", NULL, &vi) == NFRAMES && vi.width == H && vi.height == W && vi.rotation == 0);
}

/* The consistent output flickers less than the per-frame one (Lai et al.'s error). */
static void test_report(void) {
    if (!have_model) { test_skip("the built-in kit-styles model is not in this build"); return; }
    char out[8192], err[8192];
    image *paint = image_new(48, 48, 3);
    for (int i = 0; i < 3 * 48 * 48; i++) paint->data[i] = (float)((i * 7) % 11) / 10.0f;
    CHECK(image_write(test_tmp_path("paint.png"), paint, NULL) == STATUS_OK);
    image_free(paint);
    CHECK_MSG(run("video clip.mp4 -o rep.mp4 --duration 0.75 --size 64 --report --report-style paint.png --report-frames 1 --net vgg19 --quiet", out, err) == 0, "%s", err);
    double in = -1, pf = -1, cons = -1, spf = -1, scons = -1;
    const char *p = strstr(out, "input"), *q = strstr(out, "per-frame"), *s = strstr(out, "consistent");
    CHECK_MSG(p && q && s && sscanf(p, "input %lf", &in) == 1 && sscanf(q, "per-frame %lf %lf", &pf, &spf) == 2 &&
              sscanf(s, "consistent %lf %lf", &cons, &scons) == 2, "report: %s", out);
    CHECK_MSG(in >= 0 && pf > 0 && cons > 0 && cons < 0.8 * pf && spf > 0 && scons > 0,
              "warping error: input %g, per-frame %g, consistent %g", in, pf, cons);
    /* the floor: the per-frame frames carried on by the flow, far steadier than themselves */
    double floor_e = -1, ratio = -1;
    const char *f = strstr(out, "floor "), *r = strstr(out, "consistent / floor: warping error ");
    CHECK_MSG(f && r && sscanf(f, "floor %lf", &floor_e) == 1 && sscanf(r, "consistent / floor: warping error %lfx", &ratio) == 1,
              "report: %s", out);
    CHECK_MSG(floor_e > 0 && floor_e < 0.5 * pf, "floor %g, per-frame %g", floor_e, pf);
    CHECK_NEAR(ratio, cons / floor_e, 0, 2e-3);
    /* averaged over 2x2 offsets: the same warping errors, another (positive) style reading */
    CHECK_MSG(run("video clip.mp4 -o rep2.mp4 --duration 0.75 --size 64 --report --report-style paint.png --report-frames 1 --report-phases 2 --net vgg19 --quiet", out, err) == 0, "%s", err);
    double pf2 = -1, spf2 = -1, in2 = -1;
    p = strstr(out, "input"), q = strstr(out, "per-frame");
    CHECK_MSG(p && q && sscanf(p, "input %lf", &in2) == 1 && sscanf(q, "per-frame %lf %lf", &pf2, &spf2) == 2, "report: %s", out);
    CHECK_MSG(in2 == in && pf2 == pf && spf2 > 0 && spf2 != spf, "phases 2: input %g (%g), per-frame %g (%g), style %g (%g)",
              in2, in, pf2, pf, spf2, spf);
}

/* One line on stderr, a non-zero exit, and nothing new in the folder. */
static void check_refused(const char *args, const char *part) {
    char out[8192], err[8192];
    int before = test_count_entries(test_dir);
    int rc = run(args, out, err);
    CHECK_MSG(rc != 0 && rc != -1, "'%s' exited %d", args, rc);
    CHECK_MSG(test_count_lines(err) == 1 && strstr(err, part), "'%s': stderr '%s' (want one line with '%s')", args, err, part);
    CHECK_MSG(test_count_entries(test_dir) == before, "'%s' left a file behind", args);
}

static void test_bad_input(void) {
    char out[8192], err[8192];
    CHECK(run("--help", out, err) == 0 && strstr(out, "video"));   /* (makes the out and err files) */
    size_t n;
    FILE *f;
    unsigned char *b = test_read_file(test_tmp_path("clip.mp4"), &n);
    f = fopen(test_tmp_path("cut.mp4"), "wb");
    CHECK(b && f && fwrite(b, 1, n / 2, f) == n / 2);   /* the index (moov) is at the end: gone */
    if (f) fclose(f);
    free(b);
    /* an unknown codec: a Matroska file whose codec name is not one FFmpeg knows */
    if (have_model) {
        CHECK_MSG(run("video clip.mp4 -o known.mkv --quiet", out, err) == 0, "%s", err);
        b = test_read_file(test_tmp_path("known.mkv"), &n);
        unsigned char *id = NULL;
        for (size_t i = 0; b && i + 5 <= n && !id; i++)
            if (!memcmp(b + i, "V_VP9", 5)) id = b + i;
        CHECK(id);
        if (id) memcpy(id, "V_QQQ", 5);
        f = fopen(test_tmp_path("unknown.mkv"), "wb");
        CHECK(b && f && fwrite(b, 1, n, f) == n);
        if (f) fclose(f);
        free(b);
        check_refused("video unknown.mkv -o bad0.mp4 --quiet", "codec is unknown");
        /* a Matroska file cut in the middle (no index needed): the frames before the cut,
         * then a clean end */
        b = test_read_file(test_tmp_path("known.mkv"), &n);
        f = fopen(test_tmp_path("halfway.mkv"), "wb");
        CHECK(b && f && fwrite(b, 1, n * 6 / 10, f) == n * 6 / 10);
        if (f) fclose(f);
        free(b);
        CHECK_MSG(run("video halfway.mkv -o halfway.mp4 --quiet", out, err) == 0, "%s", err);
        video_info vi;
        int got = count_frames("halfway.mp4", NULL, &vi);
        CHECK_MSG(got >= 2 && got < NFRAMES, "%d frames from a file cut at 60%%", got);
    }
    check_refused("video notes.mp4 -o bad1.mp4 --quiet", "not a video");
    check_refused("video cut.mp4 -o bad2.mp4 --quiet", "cut.mp4");
    check_refused("video audio.m4a -o bad3.mp4 --quiet", "no video stream");
    check_refused("video nosuch.mp4 -o bad4.mp4 --quiet", "no such file");
    check_refused("video clip.mp4 -o /nonexistent_dir/bad5.mp4 --quiet", "cannot create");
    check_refused("video clip.mp4 -o bad6.avi --quiet", "cannot write '.avi'");
    check_refused("video clip.mp4 -o bad7.mp4 --model no_such_model --quiet", "--model");
    check_refused("video clip.mp4 -o bad8.mp4 -s no_such_style --quiet", "--style");
    check_refused("video clip.mp4 -o bad9.mp4 --frobnicate 3 --quiet", "unknown option");
    check_refused("video clip.mp4 --quiet", "-o");
    check_refused("video clip.mp4 -o bad10.mp4 --report --quiet", "--report-style");
    check_refused("video clip.mp4 -o bad11.mp4 --report-phases 9 --quiet", "--report-phases");
    CHECK(run("video --help", out, err) == 0);
    const char *opts[] = {"--model", "--style", "--mix", "--strength", "--preserve-colors", "--temporal", "--no-temporal",
                          "--blend", "--start", "--duration", "--size", "--fps", "--crf", "--report", "--report-style", "--report-frames",
                          "--report-phases", "--iterations", "--temporal-weight", "--quiet"};
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++) CHECK_MSG(strstr(out, opts[i]), "video --help lacks %s", opts[i]);
}

/* Whether the test folder holds an entry starting with prefix. */
static bool has_entry(const char *prefix) {
    DIR *d = opendir(test_dir);
    bool found = false;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) found = true;
    if (d) closedir(d);
    return found;
}

/* Ctrl-C while frames are being written: exit 130, no output and no temporary file. */
static void test_interrupt(void) {
    if (!have_model) { test_skip("the built-in kit-styles model is not in this build"); return; }
    int before = test_count_entries(test_dir);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(test_dir) != 0) _exit(99);
        freopen("/dev/null", "w", stderr);
        execl(ATELIER_BIN, "atelier", "video", "clip.mp4", "-o", "int.mp4", "--fps", "480", "--quiet", (char *)NULL);
        _exit(98);
    }
    CHECK(pid > 0);
    if (pid <= 0) return;
    bool seen = false;   /* the temporary file appears once the writer is open */
    for (int i = 0; i < 600 && !seen; i++) {
        seen = has_entry("int.mp4.tmp-");
        if (!seen) nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    CHECK_MSG(seen, "no temporary file appeared in 30 s");
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
    CHECK(!test_exists("int.mp4") && !has_entry("int.mp4") && test_count_entries(test_dir) == before);
}

/* Library errors: one line each, nothing left behind. */
static void test_library_errors(void) {
    error_clear();
    CHECK(!video_open(test_tmp_path("notes.mp4"), NULL) && strstr(error_message(), "not a video"));
    error_clear();
    video_read_opts o = video_read_defaults();
    o.max_pixels = W * H - 1;   /* the pixel limit, before any frame is allocated */
    CHECK(!video_open(test_tmp_path("clip.mp4"), &o) && strstr(error_message(), "limit"));
    error_clear();
    int before = test_count_entries(test_dir);
    video_writer *w = video_writer_open(test_tmp_path("gone.mp4"), 64, 48, NULL);
    CHECK_MSG(w, "%s", error_message());
    image *im = image_new(64, 48, 3);
    if (w) CHECK(video_write_frame(w, im) == STATUS_OK);
    CHECK(test_count_entries(test_dir) == before + 1);   /* the temporary file */
    video_writer_abort(w);
    CHECK(test_count_entries(test_dir) == before && !test_exists("gone.mp4"));
    image *other = image_new(32, 32, 3);
    w = video_writer_open(test_tmp_path("gone.mp4"), 64, 48, NULL);
    CHECK(w && video_write_frame(w, other) == STATUS_ARG);   /* wrong size */
    error_clear();
    if (w) CHECK(video_writer_finish(w) == STATUS_ARG && strstr(error_message(), "no frames"));   /* none written */
    error_clear();
    CHECK(test_count_entries(test_dir) == before && !test_exists("gone.mp4"));
    image_free(other);
    image_free(im);
}

int main(void) {
    if (!test_make_dir()) return 1;
    have_model = stylenet_builtin_available("kit-styles");
    av_log_set_level(AV_LOG_QUIET);   /* the clip's encoders */
    RUN(test_make_and_read);
    RUN(test_read_options);
    RUN(test_library_errors);
    RUN(test_bad_input);
    RUN(test_cli_round_trip);
    RUN(test_report);
    RUN(test_interrupt);
    if (!getenv("ATELIER_TEST_KEEP")) test_remove_tree(test_dir);   /* keep: to look at the files */
    else printf("files kept in %s\n", test_dir);
    return test_finish();
}
