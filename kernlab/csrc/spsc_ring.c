/* The C reference for kernlab's `queue` / `spsc_cached` ring: the same ring (slots of
 * four int64 words: payload, stamp, checksum, spare), the same cached-index protocol
 * with C11 acquire/release atomics, the same items (producer << 40 | sequence, an
 * enqueue timestamp on one item in 64 chosen by a hash of the sequence, the same
 * splitmix checksum) and the same loop shape as kernlab's harness (a relaxed stop-flag
 * load per op, a clock read every 1024 ops for the deadline). One op = one enqueue for
 * the producer thread, one dequeue for the consumer thread, as with batch 1 in kernlab.
 * The consumer verifies what kernlab's consumer verifies: the checksum, FIFO order and
 * a per-producer tally (count and a wrapping sum of a hash of each item, compared after
 * the run with the sum over the sequences produced: exactly once, none lost).
 *
 *   gcc -O2 -pthread spsc_ring.c -o spsc_ring
 *   ./spsc_ring SECONDS CAPACITY    -> prints "<items consumed> <elapsed_ns> <errors>"
 * (elapsed: first thread in to last thread out, as kernlab's runner times a trial)
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <time.h>

#define PAD 128
#define FIB 0x9E3779B97F4A7C15ULL
#define C1 0xBF58476D1CE4E5B9ULL
#define C2 0x94D049BB133111EBULL
#define STAMP_MASK 63
#define LAT_SAMPLES 4096
#define HASH_SALT 0x5EED                        /* _queue_check.HASH_SALT */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()     /* as kernlab's cpu_relax: x86 pause */
#else
#define cpu_relax() ((void)0)
#endif

typedef struct { int64_t payload, stamp, sum, spare; } slot_t;

static _Alignas(PAD) _Atomic int64_t tail;          /* producer writes */
static _Alignas(PAD) int64_t head_cache;             /* producer's copy of head */
static _Alignas(PAD) _Atomic int64_t head;          /* consumer writes */
static _Alignas(PAD) int64_t tail_cache;             /* consumer's copy of tail */
static _Alignas(PAD) atomic_int stop_flag;
static _Alignas(PAD) int64_t deadline, capacity, mask;
static _Alignas(PAD) slot_t *slots;              /* read-only during the run: a line of its own */
static _Alignas(PAD) int64_t consumed, errors, t_first, t_last, lat[LAT_SAMPLES], lat_n, tally_count, tally_hash;
static _Alignas(PAD) int64_t produced, p_first, p_end, c_end;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mix(uint64_t key, uint64_t seq, uint64_t gen) {   /* records.mix */
    uint64_t z = key * FIB ^ seq * C1 ^ gen * C2;
    z = (z ^ (z >> 30)) * C1;
    z = (z ^ (z >> 27)) * C2;
    return (int64_t)(z ^ (z >> 31));
}

static void *producer(void *arg) {
    (void)arg;
    int64_t n = 0, seq = 0;
    p_first = now_ns();
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if ((n & 1023) == 0 && now_ns() > deadline) break;
        int64_t t = atomic_load_explicit(&tail, memory_order_relaxed);
        int spins = 0, stopped = 0;
        while (t - head_cache >= capacity) {
            /* acquire: pairs with the consumer's release store of head */
            head_cache = atomic_load_explicit(&head, memory_order_acquire);
            if (t - head_cache < capacity) break;
            cpu_relax();
            if (atomic_load_explicit(&stop_flag, memory_order_relaxed) || ((++spins & 255) == 0 && now_ns() > deadline)) {
                stopped = 1;
                break;
            }
        }
        if (stopped) break;
        int64_t stamp = ((((uint64_t)seq * FIB) >> 40) & STAMP_MASK) == 0 ? now_ns() : 0;
        slot_t *s = &slots[t & mask];
        s->payload = seq;                   /* producer 0: payload = 0 << 40 | seq */
        s->stamp = stamp;
        s->sum = mix(0, (uint64_t)seq, (uint64_t)stamp);
        /* release: the slot before it; pairs with the consumer's acquire load of tail */
        atomic_store_explicit(&tail, t + 1, memory_order_release);
        seq++;
        n++;
    }
    produced = seq;
    p_end = now_ns();
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    int64_t n = 0, last = -1;
    t_first = now_ns();
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if ((n & 1023) == 0 && now_ns() > deadline) break;
        int64_t h = atomic_load_explicit(&head, memory_order_relaxed);
        int spins = 0, stopped = 0;
        while (tail_cache == h) {
            /* acquire: pairs with the producer's release store of tail */
            tail_cache = atomic_load_explicit(&tail, memory_order_acquire);
            if (tail_cache != h) break;
            cpu_relax();
            if (atomic_load_explicit(&stop_flag, memory_order_relaxed) || ((++spins & 255) == 0 && now_ns() > deadline)) {
                stopped = 1;
                break;
            }
        }
        if (stopped) break;
        slot_t *s = &slots[h & mask];
        int64_t payload = s->payload, stamp = s->stamp, sum = s->sum;
        int64_t seq = payload & ((1LL << 40) - 1);
        if (sum != mix((uint64_t)(payload >> 40), (uint64_t)seq, (uint64_t)stamp) || seq <= last) errors++;
        last = seq;
        consumed++;
        tally_count++;                                     /* the per-producer tally */
        tally_hash += mix((uint64_t)(payload >> 40), (uint64_t)seq, HASH_SALT);
        if (stamp != 0) {
            t_last = now_ns();
            lat[lat_n++ & (LAT_SAMPLES - 1)] = t_last - stamp;
        }
        /* release: our slot reads before it; pairs with the producer's acquire load of head */
        atomic_store_explicit(&head, h + 1, memory_order_release);
        n++;
    }
    c_end = now_ns();
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    capacity = argc > 2 ? atoll(argv[2]) : 1024;
    if (capacity < 2 || (capacity & (capacity - 1))) { fprintf(stderr, "capacity: a power of two\n"); return 2; }
    mask = capacity - 1;
    slots = aligned_alloc(64, (size_t)capacity * sizeof(slot_t));
    deadline = now_ns() + (int64_t)((seconds + 2.0) * 1e9);
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, NULL);
    pthread_create(&p, NULL, producer, NULL);
    struct timespec d = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store_explicit(&stop_flag, 1, memory_order_release);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    int64_t left = atomic_load(&tail) - atomic_load(&head);
    if (consumed + left != produced) errors++;
    int64_t want = 0;                                      /* FIFO: sequences 0 .. consumed-1 */
    for (int64_t s = 0; s < tally_count; s++) want += mix(0, (uint64_t)s, HASH_SALT);
    if (tally_count != consumed || tally_hash != want) errors++;
    /* elapsed as kernlab's runner measures a trial: first thread in to last thread out */
    int64_t begin = p_first < t_first ? p_first : t_first, end = p_end > c_end ? p_end : c_end;
    printf("%lld %lld %lld\n", (long long)consumed, (long long)(end - begin), (long long)errors);
    return 0;
}
