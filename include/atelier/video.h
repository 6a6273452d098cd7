/* video.h: reading and writing video through FFmpeg's libraries (libavformat, libavcodec,
 * libswscale, libswresample), never the ffmpeg program. Frames are images (image.h):
 * planar float32 (3, H, W) RGB in [0, 1].
 *
 * Reading (video_open): any container and codec libavformat reads (MP4/H.264, WebM/VP9,
 * MOV, MKV, ...), or a folder of numbered PNG/JPEG frames (sorted by the number in their
 * names; VIDEO_FOLDER_FPS frames a second unless opts.fps says otherwise). The first video
 * stream is decoded; the display matrix side data (a phone's "rotate 90") is applied, so
 * frames come upright, and info.rotation says what was applied. Options: start and
 * duration (seconds; the reader seeks to the key frame before start and decodes from
 * there), size (the long side; frames are scaled by libswscale, area filter when they
 * shrink) and fps (frames are dropped or repeated, as FFmpeg's fps filter does: output
 * frame k shows the last source frame whose time rounds to k or before). Streaming: one
 * decoded frame and one converted frame are held, whatever the length.
 *
 * Hostile input: the stream's width x height is checked against max_pixels (and every
 * decoded frame again, a stream may change size) before any frame memory is allocated. A
 * file that is not a video, has no video stream or a codec this build cannot decode is
 * refused by video_open with one line. A truncated or damaged file ends at the last frame
 * that decodes (damaged packets are skipped, as players do); a read error that is not the
 * end of the file fails video_read_frame with one line. FFmpeg's own logging is silenced.
 *
 * Writing (video_writer_open) chooses the format by the name: .mp4/.mov/.m4v (H.264 by
 * libx264, yuv420p, crf), .webm/.mkv (VP9 by libvpx-vp9, crf), .gif (animated GIF by
 * gif.h: frames are kept in memory until the end, so at most VIDEO_GIF_MAX_PIXELS pixels
 * of frames in all), a name ending in '/' or without an extension: a folder of PNG frames
 * frame_000001.png, ... H.264 and yuv420p need even sides: odd sides are scaled to the
 * even size below. Rotation is baked in (frames are written upright; no display matrix).
 * Audio: given an audio source (a file the reader opened, with the same start and
 * duration), its first audio stream is copied packet for packet, without re-encoding,
 * when the container takes its codec (AAC into MP4/MOV, Opus or Vorbis into WebM);
 * otherwise decoded, resampled by libswresample and re-encoded (AAC for MP4/MOV, Opus for
 * WebM, 128 kb/s). GIF and folders get no audio. Audio packets are interleaved with the
 * video as frames are written, so memory stays bounded.
 *
 * Atomic: everything goes to a temporary name in the target's directory
 * ("<name>.tmp-XXXXXX"), renamed onto the target by video_writer_finish.
 * video_writer_abort (or a failed finish) removes it: no half-written output, ever.
 *
 * Failure: NULL or a status, with error_message() naming the file and the problem.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   video_write_opts wo = video_write_defaults();
 *   wo.fps = 10;
 *   video_writer *w = video_writer_open("example_video.mp4", 64, 48, &wo);
 *   if (!w) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   image *im = image_new(64, 48, 3);                   // (3, 48, 64)
 *   for (int f = 0; f < 10; f++) {                      // a ramp sliding right, 1 s
 *       for (int c = 0; c < 3; c++)
 *           for (int i = 0; i < 48 * 64; i++)
 *               im->data[c * 48 * 64 + i] = (float)((i % 64 + 4 * f) % 64) / 63.0f;
 *       if (video_write_frame(w, im) != STATUS_OK) return 1;
 *   }
 *   if (video_writer_finish(w) != STATUS_OK) return 1;
 *   video_reader *r = video_open("example_video.mp4", NULL);
 *   if (!r) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   const video_info *vi = video_reader_info(r);
 *   if (vi->width != 64 || vi->height != 48 || fabs(vi->fps - 10) > 1e-6 || vi->has_audio) return 1;
 *   image *frame;
 *   int n = 0;
 *   while (video_read_frame(r, &frame) == 1) { n++; image_free(frame); }
 *   if (n != 10 || error_status() != STATUS_OK) return 1;
 *   video_close(r);
 *   image_free(im);
 *   remove("example_video.mp4");
 * EXAMPLE_END
 */
#ifndef ATELIER_VIDEO_H
#define ATELIER_VIDEO_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/error.h"
#include "atelier/image.h"

#define VIDEO_FOLDER_FPS 25.0
#define VIDEO_DEFAULT_MAX_PIXELS ((int64_t)40 * 1000 * 1000)   /* per frame: 8K is 33 MP */
#define VIDEO_GIF_MAX_PIXELS ((int64_t)64 * 1024 * 1024)       /* all of a GIF's frames */

typedef struct video_info {
    int width, height;      /* of the frames read: upright, after opts.size */
    int src_width, src_height;   /* as stored */
    double fps;             /* of the frames read (opts.fps or the source's) */
    int64_t frames;         /* the number video_read_frame will give; -1 if unknown */
    double duration;        /* seconds of the part read; 0 if unknown */
    int rotation;           /* degrees clockwise applied to make frames upright: 0, 90, 180, 270 */
    bool has_audio;
    bool is_folder;
    char codec[32];         /* the video codec's name ("h264"), or "png"/"jpeg" for a folder */
} video_info;

typedef struct video_read_opts {
    double start;           /* seconds from the beginning [0] */
    double duration;        /* seconds; 0: to the end */
    int size;               /* long side of the frames; 0: as stored */
    double fps;             /* frames a second; 0: the source's (a folder: VIDEO_FOLDER_FPS) */
    int64_t max_pixels;     /* per frame, as stored; 0: VIDEO_DEFAULT_MAX_PIXELS */
} video_read_opts;

typedef struct video_reader video_reader;

video_read_opts video_read_defaults(void);
/* NULL with one line in error_message() when path is not a readable video (o may be NULL). */
video_reader *video_open(const char *path, const video_read_opts *o);
const video_info *video_reader_info(const video_reader *r);
/* The next frame: 1 and *out (the caller frees it), 0 at the end, -1 on an error. */
int video_read_frame(video_reader *r, image **out);
void video_close(video_reader *r);   /* NULL is fine */

typedef struct video_write_opts {
    double fps;             /* frames a second [25] */
    int crf;                /* H.264 0..51, VP9 0..63 [23 for H.264, 32 for VP9] (-1: default) */
    const char *audio_from; /* a file whose first audio stream to carry; NULL: none */
    double audio_start, audio_duration;   /* the part of it (as video_read_opts) */
} video_write_opts;

typedef struct video_writer video_writer;

video_write_opts video_write_defaults(void);
/* Frames of w x h pixels. NULL with one line when the name, the directory or the audio
 * source cannot be used. */
video_writer *video_writer_open(const char *path, int w, int h, const video_write_opts *o);
/* A frame of the size given at open (RGB; an alpha plane is ignored). */
status video_write_frame(video_writer *w, const image *frame);
/* Flushes the encoders and the rest of the audio, then renames onto the target. Frees w,
 * whatever the outcome (on failure nothing is left behind). */
status video_writer_finish(video_writer *w);
/* Removes everything written so far and frees w. NULL is fine. */
void video_writer_abort(video_writer *w);

/* "mp4", "webm", "gif", "folder", or NULL (error set) for a name we cannot write. */
const char *video_output_kind(const char *path);

#endif
