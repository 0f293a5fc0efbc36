/* The C reference for kernlab's single-thread `atomic` counter: the same loop shape as
 * kernlab's harness (relaxed stop-flag load per op, a clock read every 1024 ops for the
 * deadline, an op count), around the same C11 relaxed fetch_add.
 *
 *   gcc -O2 -pthread counter_atomic.c -o counter_atomic
 *   ./counter_atomic SECONDS          -> prints "<ops> <elapsed_ns>"
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <time.h>

static _Alignas(128) atomic_int_fast64_t counter;
static _Alignas(128) atomic_int stop_flag;
static _Alignas(128) int64_t ops_done, t_begin, t_end, deadline;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg) {
    (void)arg;
    int64_t n = 0;
    t_begin = now_ns();
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if ((n & 1023) == 0 && now_ns() > deadline) break;
        atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
        n++;
    }
    t_end = now_ns();
    ops_done = n;
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    deadline = now_ns() + (int64_t)((seconds + 2.0) * 1e9);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    struct timespec d = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store_explicit(&stop_flag, 1, memory_order_release);
    pthread_join(t, NULL);
    if (atomic_load(&counter) != ops_done) { fprintf(stderr, "count mismatch\n"); return 1; }
    printf("%lld %lld\n", (long long)ops_done, (long long)(t_end - t_begin));
    return 0;
}
