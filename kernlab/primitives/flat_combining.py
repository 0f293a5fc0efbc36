"""Flat combining for a hot counter: the paper's algorithm, and the catalogue's design
(flagged broken: it double-counts).

Algorithm
    flat combining (Hendler, Incze, Shavit, Tzafrir, SPAA 2010). Each thread owns a
    publication record (one padded row: STATE, ARG, RESULT). To add ``delta`` a thread
    writes ARG, sets STATE = PENDING, then loops: if the combiner lock is free it takes
    it and becomes the *combiner*: it reads the counter once, walks every record, and
    for each PENDING one writes the running value into RESULT (the value before that
    request), adds ARG, and sets STATE = DONE; then it writes the counter once and
    releases the lock. Otherwise it spins on its own record until STATE = DONE. One
    combiner pass turns a batch of k requests into one counter update and 2k writes to
    lines that the requesters already spin on, instead of k transfers of the counter
    line. A combining session (one lock hold) makes up to ``FC_MAX_ROUNDS`` passes,
    stopping after a pass that found nothing, and records its batch size (the number
    of requests served in the session). Differences from the paper: records are a
    fixed array, one per thread, so there is no publication-list insertion nor
    aging/cleanup.

    seed design (the catalogue's flat-combining counter, as described by its source;
    broken on purpose). A shared bounded queue of pending deltas (a ring of slots, 0 =
    empty). ``add`` claims a slot (fetch_add on a tail index) and stores its delta
    there; if the slot is taken the queue is full and it adds to the counter directly
    (correct). Then it tries the combiner lock a few times (``SEED_SPIN_TRIES``); the
    winner drains the queue (exchange every slot with 0) and adds the sum to the
    counter. A thread that never wins falls back to a direct ``fetch_add`` *while its
    delta is still queued*: whoever drains the queue next adds it again. Under
    contention that is most operations; with one thread it never happens, which is why
    single-threaded tests pass.

Invariants
    flat combining: only the lock holder writes the counter and other threads' RESULT
    and STATE=DONE; only a record's owner writes its ARG and STATE=PENDING/IDLE; a
    request is served exactly once (PENDING -> DONE happens under the lock, and the
    owner does not re-publish until it has seen DONE). So after all threads join,
    counter = sum of all served deltas, and the RESULTs handed out, sorted, tile
    [0, counter) (checked by a sequential replay in the experiment).
    seed design: counter + deltas still queued = sum of deltas + the fallbacks' deltas
    that were also drained: the invariant the exact count wants is broken by design.

Memory ordering
    flat combining: the requester publishes ARG then STATE=PENDING with *release*; the
    combiner reads STATE with *acquire* (pairs with it), so it sees ARG. The combiner
    writes RESULT then STATE=DONE with *release*; the requester reads STATE with
    *acquire*, so it sees RESULT. The counter itself is read and written relaxed: the
    combiner lock (cas_acquire / store_release) orders successive combiners.
    seed design: slot stores are release and the drain's exchanges acquire (the delta
    is the only payload, so relaxed would do; the names show intent). The counter adds
    are relaxed fetch_adds: a counter publishes nothing.

Progress guarantee
    flat combining: blocking. A waiter leaves only when served, either by a combiner or
    by becoming one; a combiner pass never waits, so every wait ends once the lock
    holder runs. Waiters never abandon a published request (it could still be served,
    and the count would no longer match the operations counted); oversubscribed, a
    descheduled combiner stalls its waiters for a time slice at most, which bounds how
    late a run ends.
    seed design: every path is bounded (a few try-locks, then a fallback): lock-free
    and wrong.

References
    Hendler, Incze, Shavit, Tzafrir, "Flat combining and the synchronization-parallelism
    tradeoff", SPAA 2010; McKenney, "Is Parallel Programming Hard", ch. 5 (statistical
    counters); the catalogue, Tier 1 item 2 (its queue-based counter).
"""
from .. import atomics as A
from ..jit import inline_kernel
from ..layout import field_offsets

# publication record columns (layout.padded_rows(threads, 3))
FC_STATE, FC_ARG, FC_RESULT = 0, 1, 2
IDLE, PENDING, DONE = 0, 1, 2

# combiner statistics array: sessions in field 0, batch-size histogram from field 1 (index = batch size)
FC_PASSES, FC_HIST = field_offsets(2)
FC_MAX_ROUNDS = 4             # passes per combining session, as the paper's implementation repeats its scan

SEED_QUEUE_SLOTS = 64         # a power of two
SEED_SPIN_TRIES = 16          # "a short spin" of try-locks before the fallback
SEED_TAIL, SEED_LOCK = field_offsets(2)   # the seed's control array: ring tail, combiner lock


@inline_kernel
def fc_combine(records, counter, stats, nthreads):
    """One combining session (the caller holds the combiner lock): up to
    ``FC_MAX_ROUNDS`` passes over the records, stopping after a pass that found nothing;
    every pending request is served with the value before it. Returns the batch size
    (requests served in the session), which is also added to the histogram."""
    # relaxed: only lock holders touch the counter; the lock orders them.
    value = A.load_relaxed(counter, 0)
    served = 0
    for _ in range(FC_MAX_ROUNDS):
        found = 0
        for t in range(nthreads):
            # acquire: pairs with store_release(PENDING) in fc_add, so ARG is visible.
            if A.load_acquire(records, (t, FC_STATE)) == PENDING:
                A.store_relaxed(records, (t, FC_RESULT), value)   # published by the DONE below
                value += A.load_relaxed(records, (t, FC_ARG))
                # release: pairs with load_acquire(FC_STATE) in fc_add: RESULT is visible.
                A.store_release(records, (t, FC_STATE), DONE)
                found += 1
        served += found
        if found == 0:
            break
    A.store_relaxed(counter, 0, value)   # relaxed: the lock release publishes it
    # statistics: only the combiner writes them (relaxed: ordered by the lock)
    A.store_relaxed(stats, FC_PASSES, A.load_relaxed(stats, FC_PASSES) + 1)
    bucket = FC_HIST + min(served, stats.shape[0] - FC_HIST - 1)
    A.store_relaxed(stats, bucket, A.load_relaxed(stats, bucket) + 1)
    return served


@inline_kernel
def fc_add(records, lock, counter, stats, tid, delta):
    """Add ``delta`` through flat combining; returns the counter's value just before
    this request was applied. ``lock``: an int64 array whose element 0 is the combiner
    lock. Never abandons a published request (see Progress guarantee)."""
    nthreads = records.shape[0]
    A.store_relaxed(records, (tid, FC_ARG), delta)   # published by the PENDING below
    # release: pairs with load_acquire(FC_STATE) in fc_combine: ARG is visible.
    A.store_release(records, (tid, FC_STATE), PENDING)
    while True:
        # relaxed test first (TTAS): waiters do not write the lock line while it is held.
        # acquire: pairs with store_release(lock) below, by the previous combiner.
        if A.load_relaxed(lock, 0) == 0 and A.cas_acquire(lock, 0, 0, 1):
            fc_combine(records, counter, stats, nthreads)
            # release: pairs with cas_acquire above, by the next combiner.
            A.store_release(lock, 0, 0)
        # acquire: pairs with store_release(DONE) in fc_combine: RESULT is visible.
        if A.load_acquire(records, (tid, FC_STATE)) == DONE:
            result = A.load_relaxed(records, (tid, FC_RESULT))
            # relaxed: only we write our record now; the next PENDING is a release.
            A.store_relaxed(records, (tid, FC_STATE), IDLE)
            return result
        A.cpu_relax()


@inline_kernel
def seed_drain(queue, counter):
    """Empty the queue into the counter; returns how many deltas it took."""
    total = 0
    taken = 0
    for s in range(queue.shape[0]):
        # acquire: pairs with cas_release in seed_add (the delta is the payload).
        d = A.exchange_acquire(queue, s, 0)
        if d != 0:
            total += d
            taken += 1
    if total != 0:
        A.fetch_add_relaxed(counter, 0, total)   # relaxed: a counter publishes nothing
    return taken


@inline_kernel
def seed_add(queue, control, counter, delta):
    """The catalogue's queue-based combining add (broken on purpose). Returns 1 when it
    took the fallback with its delta still queued (a double count in waiting), else 0."""
    mask = queue.shape[0] - 1
    # relaxed: the index only spreads threads over slots; the slot CAS decides.
    slot = A.fetch_add_relaxed(control, SEED_TAIL, 1) & mask
    # release: pairs with exchange_acquire in seed_drain.
    if not A.cas_release(queue, slot, 0, delta):
        A.fetch_add_relaxed(counter, 0, delta)   # queue full here: direct add (correct)
        return 0
    for _ in range(SEED_SPIN_TRIES):
        # acquire: pairs with store_release(SEED_LOCK) below.
        if A.load_relaxed(control, SEED_LOCK) == 0 and A.cas_acquire(control, SEED_LOCK, 0, 1):
            seed_drain(queue, counter)
            # release: pairs with cas_acquire above.
            A.store_release(control, SEED_LOCK, 0)
            return 0
        A.cpu_relax()
    # The bug: the delta is still in the queue, and a later drain will add it again.
    A.fetch_add_relaxed(counter, 0, delta)
    return 1
