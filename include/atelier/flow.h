/* flow.h: optical flow between video frames, occlusion masks, warping, the warping error
 * (the measure of flicker) and the temporal blend of `atelier video --temporal`.
 *
 * Frames are Atelier images (image.h): planar float32 (C, H, W), RGB in [0, 1] (an alpha
 * plane, if any, is ignored by the flow; warp and blend carry every plane).
 *
 * Flow. flow_compute(a, b) gives, for each pixel x of a, the displacement w(x) = (u, v) in
 * pixels such that a(x) ~ b(x + w(x)) ("forward": it points into b). It is OpenCV's DIS
 * optical flow (Kroeger et al. 2016, cv::DISOpticalFlow) on the frames' Rec. 601 luma rounded
 * to 8 bits, behind a small C++ file (src/video/flow_cv.cpp); it agrees with Python's
 * cv2.DISOpticalFlow on the same bytes (tools/flow_cv2.py). Preset MEDIUM by default,
 * chosen by measurement (atelier_flow_bench time, 12 pairs, CPU time of forward + backward):
 *                    640x360 Big Buck Bunny          640x272 Sintel
 *   preset        CPU ms/pair  input warp error   CPU ms/pair  input warp error
 *   ultrafast          8           0.00038             6           0.00016
 *   fast              13           0.00043            10           0.00016
 *   medium            54           0.00032            36           0.00009
 * MEDIUM explains the motion best (Sintel's warping error nearly halves) for about 5% of a
 * frame's stylisation with the built-in fast network.
 *
 * Warping. flow_warp(src, w) is the backward warp out(x) = src(x + w(x)), bilinear; a target
 * outside the frame takes the nearest border pixel. With w = flow_compute(a, b),
 * flow_warp(b, w) ~ a wherever a's pixel is visible in b.
 *
 * Occlusion (Ruder et al. 2016, "Artistic style transfer for videos", eq. (1) and (2)). With
 * w the forward flow (a -> b) and w~(x) = wb(x + w(x)) the backward flow (b -> a) read at the
 * target, pixel x of a is unreliable (mask 0) where
 *     |w + w~|^2 > 0.01 (|w|^2 + |w~|^2) + 0.5                  (forward and back do not cancel)
 *  or |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002               (a motion boundary)
 *  or x + w(x) falls outside b;
 * reliable (mask 1) otherwise. Gradients are central differences (one-sided at the border).
 *
 * Warping error (Lai et al. 2018, "Learning blind video temporal consistency", sec. 5.1):
 *     E = 1/(n-1) sum_{t=0}^{n-2}  sum_x M_t(x) ||V_t(x) - warp(V_{t+1}, w_t)(x)||^2 / sum_x M_t(x)
 * with w_t = flow_compute(I_t, I_{t+1}) and M_t = flow_occlusion(w_t, flow(I_{t+1}, I_t)) taken
 * from the INPUT video I, and V the video measured (the input itself, the per-frame
 * stylisation or the consistent one: the same flows and masks for all three, so the numbers
 * compare). ||.||^2 sums the squares over the 3 colour channels of a pixel; values in [0, 1].
 * A pair whose mask is all zero counts its error over every pixel (as Lai's code does).
 * flow_warping_error measures a clip held in memory; flow_werr_* does the same one pair at a
 * time, in bounded memory, for long videos. Lower is steadier; the input video's own E is
 * the floor to compare with (its real motion blur and lighting changes are in it too).
 *
 * Temporal blend (the fast path). With p the previous OUTPUT frame warped into the current
 * frame (flow_warp(prev_out, flow_compute(cur_in, prev_in))) and m the current frame's mask
 * (flow_occlusion(flow(cur, prev), flow(prev, cur))):
 *     out = s + weight * m * (p - s)          (s the current frame stylised on its own)
 * weight in [0, 1]: 0 is per-frame stylisation, 1 copies the warped past wherever reliable.
 * This linear blend averages two frames' strokes, which do not line up, and so lowers their
 * contrast (to 1/sqrt(2) at weight 0.5, compounding over frames): it trades style for
 * steadiness. `atelier video` gives the blend back one stylised frame's detail energy
 * afterwards (src/cli/cmd_video.c, restore_detail: one gain per frame and plane, after
 * Heitz and Neyret 2018's variance-preserving blend), which keeps the style. Measured with
 * kit-styles' vangogh_starry_night on the kit's Sintel frames (50, 640x272) and Big Buck
 * Bunny (first 48 frames, 640x360): the warping error and the style measure (L_style on
 * InceptionV3, every 10th frame), each relative to per-frame stylisation's
 * (atelier_flow_bench werr; error / style):
 *   weight                          0.3          0.5          0.6          0.7
 *   linear blend (this)   Sintel  0.44 / 1.17  0.24 / 1.44              0.12 / 1.87
 *                         Bunny   0.52 / 1.23  0.32 / 1.76              0.18 / 2.85
 *   + one gain per plane  Sintel               0.28 / 0.99  0.20 / 1.01  0.14 / 1.06
 *     (radius 2)          Bunny                0.40 / 0.93  0.31 / 0.96  0.24 / 1.04
 *   + a gain per pixel    Sintel  0.58 / 0.98  0.34 / 1.05  0.25 / 1.13  0.18 / 1.25
 *     (9x9 local stats)   Bunny   0.62 / 0.93  0.40 / 1.04  0.31 / 1.21  0.24 / 1.53
 * The targets are an error at most half of per-frame's with the style within 10%:
 * the linear blend alone meets the first from 0.35 on and never the second; one gain per
 * plane meets both from 0.5 to 0.7 on both clips (per pixel, the gain follows the flicker
 * and undoes more of the steadiness). FLOW_DEFAULT_BLEND is the linear blend's least weight
 * that halves the flicker on both clips. The input's own error (Sintel 0.00010, Bunny
 * 0.00033) stays far below any of these (per-frame 0.0142 and 0.0123): the target
 * of 2x the input's is out of reach of a blend. Why, flow_werr_add_floor below measures: a
 * painting that does not flicker at all, each frame carried on by the flow, already scores
 * 10.5x the input's on Sintel with vangogh_starry_night (its strokes are finer than the
 * input's texture, and the measure resamples them). `atelier video` warps the past with
 * flow_warp_cubic, which keeps more of the strokes than flow_warp.
 *
 * The style measure (Gram distance to the style image on the loss network) lives with the
 * `atelier video --report` command, which owns the loss network; this module has no networks.
 *
 * Cost: flow_compute at 640x360 is about 27 ms of CPU (MEDIUM, above) and allocates the
 * flow's planes (plus two 8-bit grey frames while it runs); everything else here is linear
 * in the pixels and allocates nothing.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/image.h"
 * EXAMPLE_BEGIN
 *   // Two frames of a smooth texture, the second shifted right by 3 px: b(x) = a(x - 3).
 *   int w = 96, h = 64;
 *   image *a = image_new(w, h, 3), *b = image_new(w, h, 3);
 *   for (int c = 0; c < 3; c++)
 *     for (int y = 0; y < h; y++)
 *       for (int x = 0; x < w; x++) {
 *         float fa = 0.5f + 0.25f * sinf(0.31f * x + 0.2f * c) * cosf(0.23f * y);
 *         float fb = 0.5f + 0.25f * sinf(0.31f * (x - 3) + 0.2f * c) * cosf(0.23f * y);
 *         a->data[(c * h + y) * w + x] = fa;
 *         b->data[(c * h + y) * w + x] = fb;
 *       }
 *   flow_field fwd = {0}, bwd = {0};
 *   if (flow_compute(a, b, &fwd) != STATUS_OK) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   if (flow_compute(b, a, &bwd) != STATUS_OK) return 1;
 *   float u = fwd.u[32 * w + 48], v = fwd.v[32 * w + 48];      // the middle: about (3, 0)
 *   if (fabsf(u - 3) > 0.5f || fabsf(v) > 0.5f) return 1;
 *   float *mask = malloc(sizeof(float) * w * h);
 *   if (flow_occlusion(&fwd, &bwd, mask) != STATUS_OK) return 1;
 *   if (mask[32 * w + 48] != 1 || mask[32 * w + w - 1] != 0) return 1;  // right edge leaves b
 *   image *back = image_new(w, h, 3);                    // b warped back onto a ~ a
 *   if (flow_warp(b, &fwd, back) != STATUS_OK) return 1;
 *   if (fabsf(back->data[32 * w + 48] - a->data[32 * w + 48]) > 0.02f) return 1;
 *   // Warping error of the clip (a, b), with the clip's own flow and mask: small.
 *   const image *clip[2] = {a, b};
 *   const float *masks[1] = {mask};
 *   double e = -1;
 *   if (flow_warping_error(clip, 2, &fwd, masks, &e) != STATUS_OK || !(e < 1e-3)) return 1;
 *   // The same, streamed one pair at a time.
 *   flow_werr acc;
 *   flow_werr_init(&acc);
 *   if (flow_werr_add(&acc, a, b, &fwd, mask) != STATUS_OK) return 1;
 *   if (fabs(flow_werr_value(&acc) - e) > 1e-12) return 1;
 *   // Blend a "stylised" frame with a warped previous output where the mask allows.
 *   image *out = image_new(w, h, 3);
 *   if (flow_blend(a, back, mask, FLOW_DEFAULT_BLEND, out) != STATUS_OK) return 1;
 *   image *tiny = image_new(1, 1, 3);
 *   if (flow_warp(a, &fwd, tiny) == STATUS_OK) return 1;  // size mismatch refused
 *   error_clear();
 *   image_free(tiny); image_free(out); image_free(back); free(mask);
 *   flow_field_free(&fwd); flow_field_free(&bwd);
 *   image_free(a); image_free(b);
 * EXAMPLE_END
 */
#ifndef ATELIER_FLOW_H
#define ATELIER_FLOW_H
#include "atelier/error.h"
#include "atelier/image.h"

/* The linear blend's default weight (flow_blend), chosen by measurement (above). */
#define FLOW_DEFAULT_BLEND 0.35f

typedef struct flow_field {
    int w, h;
    float *u, *v;   /* (h, w) each: dx, dy in pixels of each pixel of a, pointing into b */
} flow_field;

/* DIS presets (cv::DISOpticalFlow::PRESET_*): faster and coarser to slower and finer. */
typedef enum flow_preset {
    FLOW_PRESET_ULTRAFAST = 0,
    FLOW_PRESET_FAST = 1,
    FLOW_PRESET_MEDIUM = 2,
} flow_preset;

typedef struct flow_opts {
    flow_preset preset;  /* FLOW_PRESET_MEDIUM in flow_compute */
} flow_opts;

/* The flow from a to b (same w, h; c 3 or 4). Allocates out->u and out->v (free with
 * flow_field_free); on failure out is left empty ({0}) and error_set says why. */
status flow_compute(const image *a, const image *b, flow_field *out);
status flow_compute_opts(const image *a, const image *b, const flow_opts *o, flow_field *out);
/* Frees u and v and zeroes the struct; NULL or an empty field is fine. */
void flow_field_free(flow_field *f);

/* The forward flow a -> b, the backward flow b -> a (bwd may be NULL when not wanted; else
 * it is filled too) and a's occlusion mask (w*h floats, caller's memory) in one call. */
status flow_pair_compute(const image *a, const image *b, flow_field *fwd, flow_field *bwd,
                         float *mask);

/* out(x) = src(x + f(x)), bilinear, borders clamped. out is the caller's image with src's
 * w, h and c (it must not be src). */
status flow_warp(const image *src, const flow_field *f, image *out);

/* The same warp, bicubic (Keys' cubic convolution, a = -0.75, as OpenCV's INTER_CUBIC; the
 * result may overshoot [0, 1] a little at sharp edges). Resampling again and again, as the
 * temporal blend does, a bilinear warp softens the finest strokes frame after frame; bicubic
 * keeps more of them: on Sintel at 640 px (kit-styles, blend 0.7, `atelier video --report`)
 * it lowered both the warping error (vangogh_starry_night 20.9x to 20.1x the input's) and
 * the style distance (1.058x to 1.024x per-frame's; manet_flowers_crystal_vase 1.33x to
 * 1.27x). */
status flow_warp_cubic(const image *src, const flow_field *f, image *out);

/* The Ruder et al. consistency check above: mask (fwd->w * fwd->h floats, caller's memory)
 * gets 1 where fwd is reliable, 0 where occluded, at a motion boundary or out of frame. */
status flow_occlusion(const flow_field *fwd, const flow_field *bwd, float *mask);

/* The warping error E above of n >= 2 frames (same sizes), with the n-1 forward flows
 * fwd[t] (frame t -> t+1 of the INPUT video) and masks[t] (w*h each). */
status flow_warping_error(const image *const *frames, int n, const flow_field *fwd,
                          const float *const *masks, double *out);

/* The streaming form: init, add each consecutive pair (V_t, V_{t+1}) with its input flow
 * and mask, read the mean. flow_werr_value is 0 before any pair. */
typedef struct flow_werr {
    double sum;  /* sum over the pairs added of each pair's masked mean */
    int pairs;
} flow_werr;
void flow_werr_init(flow_werr *e);
status flow_werr_add(flow_werr *e, const image *cur, const image *next, const flow_field *fwd,
                     const float *mask);
double flow_werr_value(const flow_werr *e);

/* The measure's floor for V_t's texture: adds to e the pair (V_t, C) where C =
 * flow_warp(cur, bwd) is cur carried onto frame t+1 by the flow (bwd: I_{t+1} -> I_t), a
 * next frame with no flicker at all, measured as flow_werr_add(e, cur, C, fwd, mask) does.
 * What is left is resampling (bilinear, twice) and the flows' disagreement, and it grows with
 * the texture's fine detail: a stylised frame has far more than the input, so its floor lies
 * far above the input's own error (Sintel at 640 px, kit-styles, `atelier video --report`:
 * the input 0.000095; vangogh_starry_night's floor 10.5x that, the consistent output 20.1x;
 * manet_flowers_crystal_vase's floor 0.5x, consistent 0.8x). Read a consistent video's error
 * against this floor: at the floor it does not flicker. */
status flow_werr_add_floor(flow_werr *e, const image *cur, const flow_field *fwd,
                           const flow_field *bwd, const float *mask);

/* out = s + weight * mask * (warped_prev - s), per plane; s, warped_prev and out have the
 * same w, h, c (out may be s); mask is w*h in [0, 1]; weight in [0, 1]. */
status flow_blend(const image *s, const image *warped_prev, const float *mask, float weight,
                  image *out);

#endif
