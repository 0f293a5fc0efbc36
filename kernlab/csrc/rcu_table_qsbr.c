/* The C peer of kernlab's `process_table` `rcu` lookup, read through liburcu's QSBR
 * flavour: the same table layout (a version array pid -> record index, published by
 * pointer; records of four int64 words: key, seq, gen, checksum), the same record check
 * (poison, splitmix checksum, key), the same key choice (a per-thread xorshift64*
 * generator, uniform over a power-of-two table) and the same harness shape as kernlab's
 * worker loop (a relaxed stop-flag load per op, a clock read every 1024 ops for the
 * deadline). A reader announces a quiescent state every QS_PERIOD lookups.
 *
 *   gcc -O2 -pthread rcu_table_qsbr.c -o rcu_table_qsbr -lurcu-qsbr
 *   ./rcu_table_qsbr THREADS SECONDS TABLE_SIZE QS_PERIOD MODE
 *      MODE: rcu (rcu_dereference of the current version) or plain (no RCU at all)
 *   -> prints "<total lookups> <elapsed_ns> <errors>"
 */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POISON ((int64_t)0xDEADBEEFDEADBEEFULL)
#define MAX_THREADS 64

typedef struct { int64_t key, seq, gen, sum; } record_t;

static int64_t *current_version;           /* published with rcu_assign_pointer */
static record_t *records;
static _Alignas(128) atomic_int stop_flag, ready, go;
static _Alignas(128) int64_t deadline;
static int64_t table_size, qs_period, plain;
static struct { _Alignas(128) int64_t ops, errors, t_begin, t_end; uint64_t rng; } slot[MAX_THREADS];

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t mix(int64_t key, int64_t seq, int64_t gen) {
    uint64_t z = (uint64_t)key * 0x9E3779B97F4A7C15ULL ^ (uint64_t)seq * 0xBF58476D1CE4E5B9ULL
               ^ (uint64_t)gen * 0x94D049BB133111EBULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (int64_t)(z ^ (z >> 31));
}

static inline uint64_t xorshift64s(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* 0 if record r is the whole, unpoisoned record of key (as kernlab's read_record). */
static inline int bad_record(const record_t *rec, int64_t key) {
    int64_t k = rec->key, seq = rec->seq, gen = rec->gen, sum = rec->sum;
    if (k == POISON || seq == POISON || gen == POISON || sum == POISON) return 1;
    if (sum != mix(k, seq, gen)) return 1;
    return k != key;
}

static void *reader(void *arg) {
    int tid = (int)(intptr_t)arg;
    rcu_register_thread();
    atomic_fetch_add(&ready, 1);
    while (!atomic_load_explicit(&go, memory_order_acquire)) ;
    int64_t n = 0, errors = 0, mask = table_size - 1, qs_mask = qs_period - 1;
    uint64_t rng = slot[tid].rng;
    int64_t begin = now_ns();
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if ((n & 1023) == 0 && now_ns() > deadline) break;
        int64_t key = (int64_t)(xorshift64s(&rng) >> 11) & mask;
        const int64_t *v = plain ? current_version : rcu_dereference(current_version);
        errors += bad_record(&records[v[key]], key);
        n++;
        if (!plain && (n & qs_mask) == 0) rcu_quiescent_state();   /* qs_period: a power of two */
    }
    slot[tid].t_end = now_ns();
    slot[tid].t_begin = begin;
    slot[tid].ops = n;
    slot[tid].errors = errors;
    rcu_unregister_thread();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s THREADS SECONDS TABLE_SIZE QS_PERIOD rcu|plain\n", argv[0]); return 2; }
    int threads = atoi(argv[1]);
    double seconds = atof(argv[2]);
    table_size = atoll(argv[3]);
    qs_period = atoll(argv[4]);
    plain = strcmp(argv[5], "plain") == 0;
    if (threads < 1 || threads > MAX_THREADS || table_size < 1 || (table_size & (table_size - 1)) || qs_period < 1
        || (qs_period & (qs_period - 1))) {
        fprintf(stderr, "threads in [1, %d], table_size and qs_period powers of two\n", MAX_THREADS);
        return 2;
    }
    int64_t *version = aligned_alloc(128, (size_t)table_size * sizeof(int64_t));
    records = aligned_alloc(128, (size_t)table_size * sizeof(record_t));
    for (int64_t p = 0; p < table_size; p++) {
        version[p] = p;
        records[p] = (record_t){p, 0, p + 1, mix(p, 0, p + 1)};
    }
    rcu_assign_pointer(current_version, version);
    for (int t = 0; t < threads; t++) slot[t].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1) | 1;
    deadline = now_ns() + (int64_t)((seconds + 2.0) * 1e9);
    pthread_t th[MAX_THREADS];
    for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, reader, (void *)(intptr_t)t);
    while (atomic_load(&ready) < threads) ;
    atomic_store_explicit(&go, 1, memory_order_release);
    struct timespec d = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store_explicit(&stop_flag, 1, memory_order_release);
    int64_t ops = 0, errors = 0, t0 = INT64_MAX, t1 = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        ops += slot[t].ops;
        errors += slot[t].errors;
        if (slot[t].t_begin < t0) t0 = slot[t].t_begin;
        if (slot[t].t_end > t1) t1 = slot[t].t_end;
    }
    printf("%lld %lld %lld\n", (long long)ops, (long long)(t1 - t0), (long long)errors);
    return errors != 0;
}
