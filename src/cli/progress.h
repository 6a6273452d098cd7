/* progress.h: a progress bar for long work. On a terminal it redraws one line on stderr
 * ("[=====>     ] 120/300 loss 0.123  2.1 s left"); otherwise it prints a plain line at
 * every tenth of the work, so logs stay readable. Silent when quiet. */
#ifndef ATELIER_PROGRESS_H
#define ATELIER_PROGRESS_H
#include <stdbool.h>
#include <stdint.h>

typedef struct progress {
    int64_t total;
    double start;       /* seconds, monotonic */
    int64_t last_tenth; /* for non-terminals */
    bool tty, quiet;
} progress;

progress progress_start(int64_t total, bool quiet);
/* done: units finished; info: a short text such as "loss 0.123" (may be NULL) */
void progress_update(progress *p, int64_t done, const char *info);
void progress_finish(progress *p, const char *info);
double progress_now(void);  /* monotonic seconds */

#endif
