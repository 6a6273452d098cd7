/* video_internal.h: what video_read.c and video_write.c share. */
#ifndef ATELIER_VIDEO_INTERNAL_H
#define ATELIER_VIDEO_INTERNAL_H
#include <libavutil/error.h>
#include "atelier/video.h"

/* FFmpeg's error code as text (av_err2str is a compound literal macro, not C11-friendly
 * in every compiler mode). */
const char *video_averr(int e, char buf[AV_ERROR_MAX_STRING_SIZE]);
/* Silences FFmpeg's own logging (the library prints nothing). */
void video_quiet_ffmpeg(void);

/* Kernels over planar float images; shapes in comments. */
/* (3, H, W) floats in [0, 1] -> (H, W, 3) bytes, rounded and clamped. */
void video_planar_to_rgb24(const float *src, int w, int h, uint8_t *dst, int dst_stride);
/* (H, W, 3) bytes -> (3, H, W) floats. */
void video_rgb24_to_planar(const uint8_t *src, int src_stride, int w, int h, float *dst);
/* A new image: im turned clockwise by deg (90, 180 or 270); NULL on out of memory. */
image *video_rotate(const image *im, int deg);

#endif
