// flow_cv.cpp: OpenCV's DIS optical flow (Kroeger et al. 2016) behind a C interface
// (flow_internal.h). The only C++ in Atelier: exceptions stop here and become a status.
#include "flow_internal.h"

#include <cstdio>
#include <exception>
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

extern "C" int flow_cv_dis(const uint8_t *a, const uint8_t *b, int w, int h, int preset,
                           float *u, float *v, char *err, size_t errlen) {
    try {
        // OpenCV's presets: 0 ultrafast, 1 fast, 2 medium (flow_preset has the same values).
        cv::Ptr<cv::DISOpticalFlow> dis = cv::DISOpticalFlow::create(preset);
        cv::Mat ma(h, w, CV_8UC1, const_cast<uint8_t *>(a));
        cv::Mat mb(h, w, CV_8UC1, const_cast<uint8_t *>(b));
        cv::Mat flow;                                    // (h, w) of (dx, dy), CV_32FC2
        dis->calc(ma, mb, flow);
        if (flow.rows != h || flow.cols != w || flow.type() != CV_32FC2) {
            std::snprintf(err, errlen, "DIS returned a %dx%d flow of type %d", flow.cols, flow.rows,
                          flow.type());
            return -1;
        }
        for (int y = 0; y < h; y++) {
            const float *row = flow.ptr<float>(y);
            for (int x = 0; x < w; x++) {
                u[(size_t)y * w + x] = row[2 * x];
                v[(size_t)y * w + x] = row[2 * x + 1];
            }
        }
        return 0;
    } catch (const std::exception &e) {
        std::snprintf(err, errlen, "%s", e.what());
        return -1;
    } catch (...) {
        std::snprintf(err, errlen, "unknown OpenCV failure");
        return -1;
    }
}
