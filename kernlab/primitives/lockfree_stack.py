"""Treiber's lock-free stack over a fixed node pool, with a tagged head, and without
one (broken on purpose: the ABA problem).

A node is a row of ``NODE_WORDS`` int64 (one 64-byte line): an item in the ring's item
words (``rings.PAYLOAD``, ``STAMP``, ``SUM``), the link ``NEXT``, and two words the
checker uses: ``STATE`` (``IN_STACK`` while linked in the data stack) and ``TAKER``
(who took it last). Links and heads hold *references*: node index + 1, 0 is null. Two
stacks share the pool: ``DATA`` (items) and ``FREE`` (empty nodes). A producer pops a
free node, writes an item, pushes it on DATA; a consumer pops DATA, reads, pushes the
node back on FREE. Reuse is immediate and LIFO: the setting in which ABA bites.

Algorithm
    push  read the head, link the node to it, CAS the head from the old word to the node.
    pop   read the head word ``old``, read ``next`` of its node, CAS the head from ``old``
          to ``next``. Tagged (IBM System/370's scheme, Treiber 1986): the head word is
          ``tag << 32 | ref`` and every successful CAS bumps the tag, so a head that
          was popped and pushed back in between carries another tag and the CAS fails.
          Untagged: the head word is the reference alone. Then thread A reads head = X,
          next = Y; B pops X, pops Y, pushes X back (reused); A's CAS(X -> Y) succeeds
          and makes Y, which B owns, the top again: Y is handed out twice (ABA).
    ``race_window`` work rounds between reading ``next`` and the CAS widen the window
    (liburcu's injected delays): the tagged stack must still never fail.

Invariants
    Tagged: a node is in at most one of DATA, FREE or a thread's hands; a pop returns
    a node whose STATE is ``IN_STACK``. ``take`` reports any node handed out while not
    ``IN_STACK`` (ABA), and ``record_evidence`` keeps the first such event with every
    thread's latest pops, so the interleaving can be shown.

Memory ordering
    push: ``compare_exchange_release`` on the head; pairs with the acquire load and
    acquire CAS in pop: the node's item and ``NEXT`` are written before it is visible
    as the top. pop: ``load_acquire`` of the head (the node's ``NEXT`` is read after it)
    and ``compare_exchange_acquire`` (a failed CAS rereads the head with acquire). The
    ``NEXT`` read is relaxed and may be stale when the node was popped and reused in
    between: the tag makes the CAS fail then. Memory is never unmapped (a fixed pool),
    so a stale read is harmless: the reason Treiber's stack needs only a tag here, not
    a reclamation scheme. ``STATE``/``TAKER``/history words are relaxed: only the
    checker reads them, after the runner's join (or racily, for evidence).

Progress guarantee
    Lock-free: a CAS fails only because another push or pop succeeded. Producers wait
    on an empty FREE stack (full) and consumers on an empty DATA stack, polling
    ``harness.should_abandon``.

References
    R. K. Treiber, "Systems programming: coping with parallelism", IBM RJ 5118, 1986;
    IBM System/370 Principles of Operation (Appendix A, CS with a counter); Michael,
    "ABA prevention using single-word instructions", IBM RC 23089, 2004; Herlihy &
    Shavit, The Art of Multiprocessor Programming, ch. 11.
"""
import numpy as np

from .. import atomics as A
from ..jit import inline_kernel, kernel
from ..layout import aligned_zeros, field_offsets, padded_fields
from .locks import spin_work

NODE_WORDS = 8
NEXT, STATE, TAKER = 3, 4, 5          # 0..2 are the item (rings.PAYLOAD, STAMP, SUM)
IN_STACK, TAKEN = 1, 2
DATA, FREE = field_offsets(2)
TAG_SHIFT = 32
REF_MASK = (1 << TAG_SHIFT) - 1
HISTORY = 32                          # pops remembered per thread (a ring), for the evidence
H_OLD, H_NEW, H_COUNT = 0, 1, 2       # history row: head word replaced, head word installed, pop number
# evidence words
E_FLAG, E_DETECTOR, E_NODE, E_STATE, E_PREV_TAKER, E_OLD, E_NEW, E_POP = range(8)


def make_stack(capacity: int, threads: int):
    """``(heads, nodes, history, evidence, snapshot)``: every node on FREE, DATA empty."""
    nodes = aligned_zeros((capacity, NODE_WORDS), np.int64)
    nodes[:, NEXT] = np.arange(2, capacity + 2)
    nodes[-1, NEXT] = 0
    heads = padded_fields(2)
    heads[FREE] = 1
    history = np.zeros((threads, HISTORY, 4), np.int64)
    return heads, nodes, history, np.zeros(16, np.int64), np.zeros((threads, HISTORY, 4), np.int64)


@inline_kernel
def push(heads, h, nodes, ref, tagged):
    """Push node ``ref`` on stack ``h``; returns the CAS retries."""
    retries = 0
    old = A.load_relaxed(heads, h)          # relaxed: the CAS below decides
    while True:
        A.store_relaxed(nodes, (ref - 1, NEXT), old & REF_MASK)   # relaxed: published by the CAS
        new = ((((old >> TAG_SHIFT) + 1) & REF_MASK) << TAG_SHIFT) | ref if tagged else ref
        # release: the node's item and NEXT before it; pairs with the acquires in pop.
        seen = A.compare_exchange_release(heads, h, old, new)
        if seen == old:
            return retries
        old = seen
        retries += 1


@inline_kernel
def pop(heads, h, nodes, tagged, window, opaque):
    """Pop stack ``h``: ``(ref, old head word, new head word, retries)``; ref 0: empty."""
    retries = 0
    old = A.load_acquire(heads, h)          # acquire: pairs with compare_exchange_release in push
    while True:
        ref = old & REF_MASK
        if ref == 0:
            return 0, old, old, retries
        nxt = A.load_relaxed(nodes, (ref - 1, NEXT))   # relaxed: may be stale; the CAS judges
        spin_work(window, opaque)
        new = ((((old >> TAG_SHIFT) + 1) & REF_MASK) << TAG_SHIFT) | nxt if tagged else nxt
        # acquire: pairs with compare_exchange_release in push (a failure rereads with acquire).
        seen = A.compare_exchange_acquire(heads, h, old, new)
        if seen == old:
            return ref, old, new, retries
        old = seen
        retries += 1


@inline_kernel
def mark_in_stack(nodes, ref):
    A.store_relaxed(nodes, (ref - 1, STATE), IN_STACK)   # relaxed: published by push's release CAS


@inline_kernel
def take(nodes, ref, tid, history, n, old, new):
    """A consumer took node ``ref`` from DATA: returns the state it found (``IN_STACK``
    unless it was handed out twice) and remembers the pop in ``tid``'s history."""
    found = A.load_relaxed(nodes, (ref - 1, STATE))       # relaxed: checker's words (see docstring)
    A.store_relaxed(nodes, (ref - 1, STATE), TAKEN)
    k = n & (HISTORY - 1)
    A.store_relaxed(history, (tid, k, H_OLD), old)
    A.store_relaxed(history, (tid, k, H_NEW), new)
    A.store_relaxed(history, (tid, k, H_COUNT), n + 1)
    return found


@kernel
def record_evidence(evidence, snapshot, history, nodes, ref, tid, found, old, new, n):
    """The first node handed out twice: who, which node, the head words, every thread's
    latest pops (copied racily: evidence for a picture, not for the verdict)."""
    # relaxed: a one-time claim of the evidence slot; read after the join.
    if not A.cas_relaxed(evidence, E_FLAG, 0, 1):
        return
    prev = A.load_relaxed(nodes, (ref - 1, TAKER))
    evidence[E_DETECTOR], evidence[E_NODE], evidence[E_STATE] = tid, ref, found
    evidence[E_PREV_TAKER], evidence[E_OLD], evidence[E_NEW], evidence[E_POP] = prev, old, new, n
    for t in range(history.shape[0]):
        for k in range(HISTORY):
            for f in range(3):
                snapshot[t, k, f] = A.load_relaxed(history, (t, k, f))


@inline_kernel
def note_taker(nodes, ref, tid):
    A.store_relaxed(nodes, (ref - 1, TAKER), tid + 1)     # relaxed: checker's word


def stack_contents(heads: np.ndarray, h: int, nodes: np.ndarray) -> list:
    """Node references from the top of stack ``h`` down (stops at a cycle, which only a
    broken stack can have)."""
    out, seen = [], set()
    ref = int(heads[h]) & REF_MASK
    while ref and ref not in seen and len(out) < len(nodes):
        seen.add(ref)
        out.append(ref)
        ref = int(nodes[ref - 1, NEXT])
    return out


def split_word(word: int) -> tuple[int, int]:
    """``(tag, ref)`` of a head word."""
    return int(word) >> TAG_SHIFT, int(word) & REF_MASK
