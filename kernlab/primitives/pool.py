"""A size-classed buffer pool: per-thread free lists over a shared lock-free list.

Algorithm
    Buffers of one size class (a power of two, 16 B ... 64 KiB) are carved out of one
    preallocated slab at setup; each has an id, and ``addresses[id]`` is where it lives.
    Free ids of class ``c`` sit in two places:

    * a per-thread *cache*: a small LIFO array of ids that only its thread touches (no
      atomics, no sharing; the common case, as in tcmalloc's thread caches and the
      kernel's per-CPU page lists);
    * one *shared* list per class: a Treiber stack (a linked LIFO whose links live in
      ``next_links[id]``) changed only by compare-exchange of its head word.

    ``pool_get`` pops the thread's cache; when it is empty, ``_refill`` moves up to
    ``batch`` ids from the shared list into it (one pop each). ``pool_put`` pushes on
    the cache; when it is full, ``_flush`` hands half of it back to the shared list.
    The pool is bounded: when both are empty ``pool_get`` returns -1 (a *miss*; the
    caller falls back to ``malloc``), and a buffer never grows or moves.

    Ownership (a checker's word per buffer, ``owners[id]``): 0 while the id is on the
    shared list, ``tid + 1`` while thread ``tid`` has it (in its cache or in its hands).
    It changes only where a buffer crosses between threads: ``_refill`` claims each id
    it takes (an exchange that must find 0) and ``_flush`` releases each id it hands
    back (a compare-exchange from ``tid + 1``). A clash, an id already owned, means the
    shared list handed one buffer to two threads; ``pool_get`` and ``pool_put`` return
    the count. Inside a thread nothing is stamped: a buffer given to two holders there
    is seen by its contents (the second holder's write lands before the first's check).

    The head word is *tagged*: the low 32 bits hold ``id + 1`` of the top buffer (0:
    empty), the high 32 bits a counter that every successful push or pop increments.
    ``tag_unit`` 0 turns the counter off: the untagged stack of the ``pool_aba`` teaching
    variant, which hands one buffer to two threads (below).

Invariants
    Every id is in exactly one place: one thread's cache, the shared list, or held by
    one caller. ``0 <= cache_len[tid, c] <= cache capacity``. The shared list is
    acyclic and its links name free buffers only. ``owners[id]`` is 0 for the ids on
    the shared list and ``tid + 1`` for those in thread tid's cache or hands (the
    ``pool_shared`` path, which has no caches, stamps its own while a caller holds one).

Memory ordering
    A push writes the buffer's link (relaxed: the CAS publishes it) and then swings the
    head with a *release* compare-exchange; a pop reads the head with *acquire* (pairs
    with that release), reads the top's link, and swings the head to it with an
    *acquire* compare-exchange (its success and failure both acquire: on failure the
    loop reads the link of the head it just saw). So everything the pusher wrote into
    a buffer before freeing it (its poison) happens-before the popper's use.

    The tag argument (the ABA problem). Between a pop's read of ``top = A`` and
    ``link(A) = B`` and its compare-exchange, other threads can pop A, pop B and push A
    back: the head is A again, but A's link now names C, and B is in someone's hands.
    An untagged compare-exchange sees "A" and succeeds, installing B as the head: B is
    then handed out twice and C is lost. With the tag, every push and pop changes the
    head *word* even when it names the same buffer, so the stale compare-exchange
    fails and the pop retries with fresh values. The tag could only be fooled if the
    stalled pop slept through exactly a multiple of 2**32 head changes (minutes of
    uninterrupted pushing at today's rates) and found the same buffer on top. Reading
    ``link(A)`` after A was popped by someone else is harmless: the buffer memory is
    never returned to the system (a slab), and the tag makes that stale read lose.

Progress guarantee
    Lock-free: a pop or push retries only when another thread's pop or push succeeded.
    The thread caches are wait-free.

References
    R. K. Treiber, "Systems Programming: Coping with Parallelism", IBM RJ 5118, 1986;
    IBM System/370 Principles of Operation (the counted compare-double-and-swap);
    M. M. Michael, "ABA Prevention Using Single-Word Instructions", IBM RC23089, 2004;
    tcmalloc's per-thread caches; Bonwick, "The Slab Allocator", USENIX 1994.
"""
import numpy as np

from .. import atomics as A
from ..jit import inline_kernel, kernel
from ..layout import aligned_zeros, padded_rows, padded_slots

TAG_UNIT = np.int64(1) << np.int64(32)     # one step of the head's counter
LINK_MASK = TAG_UNIT - np.int64(1)         # the low 32 bits: id + 1 of the top, 0 when empty
TAG_MASK = ~LINK_MASK
MIN_CLASS_BYTES = 16
CLASSES = 13                               # 16 B, 32 B ... 64 KiB


def class_of(nbytes: int) -> int:
    """The size class of an ``nbytes`` request: the smallest power of two >= it (>= 16 B)."""
    return max(int(nbytes) - 1, MIN_CLASS_BYTES - 1).bit_length() - 4


def class_bytes(c: int) -> int:
    return MIN_CLASS_BYTES << c


@inline_kernel
def class_index(nbytes):
    """``class_of`` inside kernels."""
    c = 0
    size = MIN_CLASS_BYTES
    while size < nbytes:
        size <<= 1
        c += 1
    return c


def make_pool(counts, threads: int, cache_capacity: int):
    """A pool with ``counts[c]`` buffers of class ``c`` (0 for a class never used), all
    on the shared lists at first. Returns the arrays the kernels take, in this order:
    ``heads, next_links, addresses, cache, cache_len, slab`` (``slab`` only keeps the
    memory alive)."""
    counts = [int(n) for n in counts] + [0] * (CLASSES - len(counts))
    total_bytes = sum(n * class_bytes(c) for c, n in enumerate(counts))
    slab = aligned_zeros(max(total_bytes // 8, 1), np.int64)      # buffers start on cache lines
    heads = padded_slots(CLASSES)
    next_links = np.zeros(max(sum(counts), 1), np.int64)
    addresses = np.zeros(max(sum(counts), 1), np.int64)
    base, first = slab.ctypes.data, 0
    for c, n in enumerate(counts):
        if n:
            ids = np.arange(first, first + n)
            addresses[first:first + n] = base + (ids - first) * class_bytes(c)
            next_links[first:first + n] = np.append(ids[1:] + 1, 0)   # id i links to i+1; the last to none
            heads[c, 0] = first + 1
        base += n * class_bytes(c)
        first += n
    cache = np.zeros((threads, CLASSES, max(cache_capacity, 1)), np.int64)
    cache_len = padded_rows(threads, CLASSES)
    return heads, next_links, addresses, cache, cache_len, slab


# ----------------------------------------------------------------------------- shared list

@inline_kernel
def shared_pop(heads, next_links, c, tag_unit, window):
    """Pop a free id of class ``c`` off the shared list, or -1 if it is empty.
    ``tag_unit`` is TAG_UNIT (tagged) or 0 (the ABA-prone teaching form); ``window``
    pauses between reading the link and the compare-exchange widen the race window
    (liburcu's injected delays): 0 on real paths."""
    # acquire: pairs with the release compare-exchange in shared_push.
    old = A.load_acquire(heads, (c, 0))
    while True:
        link = old & LINK_MASK
        if link == 0:
            return np.int64(-1)
        # relaxed: a racing push may rewrite it; then the head changed and the CAS fails.
        nxt = A.load_relaxed(next_links, link - 1)
        for _ in range(window):
            A.cpu_relax()
        new = ((old & TAG_MASK) + tag_unit) | nxt
        # acquire (success and failure): pairs with shared_push's release; on failure
        # `seen` is the new head, whose link the next round reads.
        seen = A.compare_exchange_acquire(heads, (c, 0), old, new)
        if seen == old:
            return link - 1
        old = seen


@inline_kernel
def shared_push(heads, next_links, c, buffer_id, tag_unit):
    """Push ``buffer_id`` (class ``c``) on the shared list."""
    # relaxed: only a guess at the head; the compare-exchange checks it.
    old = A.load_relaxed(heads, (c, 0))
    while True:
        # relaxed: published by the release compare-exchange below.
        A.store_relaxed(next_links, buffer_id, old & LINK_MASK)
        new = ((old & TAG_MASK) + tag_unit) | (buffer_id + 1)
        # release: pairs with the acquire load and compare-exchange in shared_pop.
        seen = A.compare_exchange_release(heads, (c, 0), old, new)
        if seen == old:
            return
        old = seen


# ----------------------------------------------------------------------------- thread caches

@kernel   # slow path: one call per `batch` gets
def _refill(heads, next_links, cache, cache_len, owners, tid, c, batch):
    """Move up to ``batch`` ids from the shared list to the thread's cache, claiming each;
    ``(how many, clashes)``."""
    n = 0
    clashes = 0
    while n < batch:
        got = shared_pop(heads, next_links, c, TAG_UNIT, 0)
        if got < 0:
            break
        # relaxed: a checker's word; shared_pop's acquire already ordered the buffer
        if A.exchange_relaxed(owners, got, tid + 1) != 0:
            clashes += 1
        cache[tid, c, n] = got
        n += 1
    cache_len[tid, c] = n
    return n, clashes


@kernel   # slow path: one call per cache-capacity/2 puts
def _flush(heads, next_links, cache, cache_len, owners, tid, c):
    """Hand the older half of the thread's cache back to the shared list, releasing each
    id; the number of clashes (ids this thread did not own)."""
    n = cache_len[tid, c]
    half = n // 2
    clashes = 0
    for i in range(half):
        # relaxed: shared_push's release publishes the word with the buffer
        if not A.cas_relaxed(owners, cache[tid, c, i], tid + 1, 0):
            clashes += 1
        shared_push(heads, next_links, c, cache[tid, c, i], TAG_UNIT)
    for i in range(half, n):
        cache[tid, c, i - half] = cache[tid, c, i]
    cache_len[tid, c] = n - half
    return clashes


@inline_kernel
def pool_get(heads, next_links, cache, cache_len, owners, tid, c, batch):
    """``(id, clashes)``: a free id of class ``c`` for thread ``tid`` (its cache first),
    or -1: a miss; clashes found by a refill."""
    n = cache_len[tid, c]          # only thread tid touches its cache: plain accesses
    clashes = 0
    if n == 0:
        n, clashes = _refill(heads, next_links, cache, cache_len, owners, tid, c, batch)
        if n == 0:
            return np.int64(-1), clashes
    cache_len[tid, c] = n - 1
    return cache[tid, c, np.uint64(n - 1)], clashes      # unsigned: n >= 1, no negative-index wraparound


@inline_kernel
def pool_put(heads, next_links, cache, cache_len, owners, tid, c, buffer_id):
    """Give ``buffer_id`` back: onto the thread's cache, half of which goes back to
    the shared list when it is full. Returns the clashes a flush found."""
    n = cache_len[tid, c]
    clashes = 0
    if n == cache.shape[2]:
        clashes = _flush(heads, next_links, cache, cache_len, owners, tid, c)
        n = cache_len[tid, c]
    cache[tid, c, np.uint64(n)] = buffer_id
    cache_len[tid, c] = n + 1
    return clashes


def _shared_ids(heads, next_links, c: int) -> list:
    """The ids on the shared list of class ``c``, top first; a cycle ends the walk (and
    shows as a repeated id)."""
    ids, link, steps = [], int(heads[c, 0]) & int(LINK_MASK), 0
    while link and steps <= len(next_links):
        ids.append(link - 1)
        link = int(next_links[link - 1])
        steps += 1
    return ids


def free_ids(heads, next_links, cache, cache_len, c: int) -> list:
    """Every id of class ``c`` the pool holds (shared list, then caches), for checks
    after the threads joined."""
    ids = _shared_ids(heads, next_links, c)
    for tid in range(cache.shape[0]):
        ids.extend(int(x) for x in cache[tid, c, :cache_len[tid, c]])
    return ids


def misowned(heads, next_links, cache, cache_len, owners, c: int) -> int:
    """After the threads joined: the free ids of class ``c`` whose owner word disagrees
    with where they are (0 on the shared list, ``tid + 1`` in thread tid's cache)."""
    bad = sum(1 for i in _shared_ids(heads, next_links, c) if owners[i] != 0)
    for tid in range(cache.shape[0]):
        bad += sum(1 for i in cache[tid, c, :cache_len[tid, c]] if owners[i] != tid + 1)
    return bad


# ----------------------------------------------------------------------------- the ABA history, replayed

@kernel
def _pop_now(heads, next_links, c, tag_unit):
    return shared_pop(heads, next_links, c, tag_unit, 0)


@kernel
def _push_now(heads, next_links, c, buffer_id, tag_unit):
    shared_push(heads, next_links, c, buffer_id, tag_unit)


@kernel
def _stale_cas(heads, c, stale_head, stale_link, tag_unit):
    """The stalled pop's compare-exchange, with the head and link it read long ago."""
    return A.cas_acquire(heads, (c, 0), stale_head, ((stale_head & TAG_MASK) + tag_unit) | stale_link)


def _word(head: int) -> str:
    link, tag = head & int(LINK_MASK), head >> 32
    return f"top={'ABCD'[link - 1] if link else 'none'} tag={tag}"


def replay_aba(tagged: bool) -> str:
    """The ABA interleaving run step by step on this module's real pop and push (one
    thread playing T1 and T2 in turn): buffers A, B, C, D on the shared list, T1's pop
    stalls between reading the head and its compare-exchange."""
    tag_unit = int(TAG_UNIT) if tagged else 0
    heads, links, *_ = make_pool([4], threads=1, cache_capacity=2)
    name = lambda i: "ABCD"[i] if i >= 0 else "nothing"
    stale = int(heads[0, 0])
    stale_link = int(links[(stale & int(LINK_MASK)) - 1])
    rows = [("T1", f"pop: reads head ({_word(stale)}) and A's link (-> {name(stale_link - 1)}), then stalls")]
    a = _pop_now(heads, links, 0, tag_unit)
    rows.append(("T2", f"pops {name(a)}                  head now {_word(int(heads[0, 0]))}"))
    b = _pop_now(heads, links, 0, tag_unit)
    rows.append(("T2", f"pops {name(b)} and keeps it     head now {_word(int(heads[0, 0]))}"))
    _push_now(heads, links, 0, a, tag_unit)
    rows.append(("T2", f"pushes {name(a)} back           head now {_word(int(heads[0, 0]))}"))
    won = _stale_cas(heads, 0, stale, stale_link, tag_unit)
    rows.append(("T1", f"compare-exchange(head: {_word(stale)} -> link {name(stale_link - 1)}) "
                       + ("SUCCEEDS: the word looks unchanged" if won else "FAILS: the tag moved on; T1 retries")))
    if won:
        again = _pop_now(heads, links, 0, tag_unit)
        rows.append(("T3", f"pops {name(again)}: but T2 still holds {name(b)}: handed out twice"
                     if again == b else f"pops {name(again)}"))
    else:
        mine = _pop_now(heads, links, 0, tag_unit)
        rows.append(("T1", f"retries with fresh values: pops {name(mine)}; {name(b)} stays T2's alone"))
    return "\n".join(f"{i + 1}. {who}  {what}" for i, (who, what) in enumerate(rows))
