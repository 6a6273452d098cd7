/* flow_internal.h: the C interface of src/video/flow_cv.cpp (OpenCV's DIS optical flow). */
#ifndef ATELIER_FLOW_INTERNAL_H
#define ATELIER_FLOW_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* DIS flow from a to b, both 8-bit grey (h, w) row-major; u, v (h, w) get dx, dy. preset is a
 * flow_preset. Returns 0, or -1 with a one-line reason in err (OpenCV's exception text);
 * never throws. */
int flow_cv_dis(const uint8_t *a, const uint8_t *b, int w, int h, int preset, float *u, float *v,
                char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
