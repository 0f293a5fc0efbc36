"""The `small_string` experiment: building a failed syscall's error message, with and
without a heap allocation (the catalogue's Tier 2, item 9: SmartString).

One op = one error message: pick the next message of the thread's stream (drawn before
the run from the message table), store it into the next 24-byte string slot of the
thread's array of slots, read it back (a word sum compared with the table's: the
"hand it back" of the message) and let it die (free its heap text, if any).

    heap             every message's text allocated with malloc (a String)
    inline           up to 23 bytes inline in the slot, longer ones on the heap
                     (SmartString / compact_str)
    interned         the message's id in the static table: no copy, no allocation
    inline_overflow  broken on purpose: lets 24-byte messages count as inline, which
                     writes their length byte over the neighbouring slot

The messages are real text no one here wrote: the C library's ``strerror`` of every
errno, bare and formatted with a path or a pid as tools print them (see
``message_table``; the table used here ships as ``data/error-messages.json``, made by
``benchmarks/make_error_messages.py``), so the share that fits in 23 bytes is the
C library's, not a guess. Every message of the table is equally likely.

Check: every read-back equals the table's sum, and after each store the neighbouring
slot still starts with the word it was last given (the off-by-one shows there);
mallocs and frees balance. Metrics: ``inline_share`` (messages that fit in 23 bytes),
``allocs_per_op`` and ``ns_per_message`` (thread-time per op).
"""
import numpy as np

from .. import atomics as A
from ..claims import Claim, Verdict
from ..declaration import Check, Experiment, Param, Variant
from ..jit import inline_kernel
from ..layout import aligned_zeros, padded_rows
from ..primitives import inline_string as S
from ._messages import message_arrays

MISMATCH, CORRUPT, ALLOCS, FREES, FITS = range(5)
STREAM = 1 << 14
GUARD = np.int64(0x5A5A5A5A5A5A5A5A)   # word 0 of the slot after the last one


@inline_kernel
def _begin(state, tid, n):
    """The op's message and slot: (m, first word of its text, bytes, slot, slots address)."""
    offsets, lengths, stream, first_words, slots, stats = state[1], state[2], state[4], state[6], state[5], state[7]
    m = stream[tid, n & (STREAM - 1)]
    nbytes = lengths[m]
    if nbytes <= S.INLINE_CAPACITY:
        stats[tid, FITS] += 1
    # slots is a power of two: a mask, not a division, picks the slot
    return m, offsets[m], nbytes, n & (first_words.shape[1] - 2), slots.ctypes.data + tid * slots.strides[0]


@inline_kernel
def _end(state, tid, m, slot, addr, total):
    """Check the read-back and the neighbouring slot (where an off-by-one lands)."""
    sums, first_words, stats = state[3], state[6], state[7]
    first_words[tid, slot] = A.load_word_relaxed(addr, slot * S.SLOT_WORDS)
    neighbour = A.load_word_relaxed(addr, (slot + 1) * S.SLOT_WORDS)
    if neighbour != first_words[tid, slot + 1]:
        stats[tid, CORRUPT] += 1
        first_words[tid, slot + 1] = neighbour          # count each overwrite once
    if total != sums[m]:
        stats[tid, MISMATCH] += 1
    return 0


@inline_kernel
def _on_heap(state, tid, at, nbytes, slot, addr):
    """Store on the heap, read back, free: the String path. Returns the read-back sum."""
    stats = state[7]
    S.store_heap(addr, slot, state[0], at, nbytes)
    stats[tid, ALLOCS] += 1
    total = S.heap_sum(addr, slot)
    S.release_heap(addr, slot)
    stats[tid, FREES] += 1
    return total


@inline_kernel
def op_heap(ctl, state, tid, n):
    m, at, nbytes, slot, addr = _begin(state, tid, n)
    return _end(state, tid, m, slot, addr, _on_heap(state, tid, at, nbytes, slot, addr))


@inline_kernel
def op_inline(ctl, state, tid, n):
    m, at, nbytes, slot, addr = _begin(state, tid, n)
    if nbytes <= S.INLINE_CAPACITY:
        S.store_inline(addr, slot, state[0], at, nbytes)
        total = S.inline_sum(addr, slot)
    else:
        total = _on_heap(state, tid, at, nbytes, slot, addr)
    return _end(state, tid, m, slot, addr, total)


@inline_kernel
def op_inline_overflow(ctl, state, tid, n):
    m, at, nbytes, slot, addr = _begin(state, tid, n)
    if nbytes <= S.INLINE_CAPACITY + 1:              # the off-by-one: 24 bytes "fit"
        S.store_inline_overflow(addr, slot, state[0], at, nbytes)
        total = S.overflow_sum(addr, slot) if nbytes == 24 else S.inline_sum(addr, slot)
    else:
        total = _on_heap(state, tid, at, nbytes, slot, addr)
    return _end(state, tid, m, slot, addr, total)


@inline_kernel
def op_interned(ctl, state, tid, n):
    m, at, nbytes, slot, addr = _begin(state, tid, n)
    S.store_interned(addr, slot, m, nbytes)
    return _end(state, tid, m, slot, addr, S.interned_sum(addr, slot, state[0], state[1]))


def setup(threads, params):
    text, offsets, lengths, sums = message_arrays(params["messages"])
    stream = np.random.default_rng(4242).integers(0, len(lengths), size=(threads, STREAM), dtype=np.int64)
    nslots = params["slots"]
    slots = aligned_zeros((threads, (nslots + 1) * S.SLOT_WORDS + 8), np.int64)
    slots[:, nslots * S.SLOT_WORDS] = GUARD
    first_words = np.zeros((threads, nslots + 1), np.int64)
    first_words[:, nslots] = GUARD
    return text, offsets, lengths, sums, stream, slots, first_words, padded_rows(threads, 8)


def check(state, per_thread_ops, params):
    stats = state[7]
    col = lambda i: int(stats[:, i].sum())
    problems = []
    if col(CORRUPT):
        problems.append(f"{col(CORRUPT):,} neighbouring slots found overwritten")
    if col(MISMATCH):
        problems.append(f"{col(MISMATCH):,} messages read back wrong")
    if col(ALLOCS) != col(FREES):
        problems.append(f"{col(ALLOCS):,} mallocs against {col(FREES):,} frees")
    if problems:
        return Check(False, "; ".join(problems))
    return Check(True, f"{int(per_thread_ops.sum()):,} messages read back intact; neighbours untouched; "
                       "mallocs and frees balance")


def metrics(state, per_thread_ops, per_thread_aux, params):
    stats = state[7]
    ops = max(int(per_thread_ops.sum()), 1)
    return {"inline_share": int(stats[:, FITS].sum()) / ops,
            "inline_share_of_table": float((state[2] <= S.INLINE_CAPACITY).mean()),
            "allocs_per_op": int(stats[:, ALLOCS].sum() + stats[:, FREES].sum()) / ops,
            "corrupt_neighbours": int(stats[:, CORRUPT].sum())}


EXPERIMENT = Experiment(
    name="small_string",
    title="Error messages without allocation: heap strings, inline small strings, interned ids",
    help="Each op stores a real strerror-based error message into a 24-byte string slot, reads it back and "
         "drops it. Inline strings skip malloc for messages of up to 23 bytes.",
    params=(
        Param("messages", str, "all", "which messages: bare strerror text, formatted with a path/pid, or all",
              choices=("all", "strerror", "formatted")),
        Param("slots", int, 64, "string slots per thread (an array of strings, reused round-robin)",
              low=2, high=1 << 16, power_of_two=True, log_scale=True),
    ),
    variants=(
        Variant("heap", op_heap, "every message allocated with malloc"),
        Variant("inline", op_inline, "up to 23 bytes inline in the 24-byte slot, longer ones on the heap"),
        Variant("interned", op_interned, "the message's id in a static table: no copy, no allocation"),
        Variant("inline_overflow", op_inline_overflow, "24-byte messages 'fit': the length byte lands on the "
                "neighbour (broken on purpose)", broken=True),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    default_variants=("heap", "inline", "interned"),
)


# ----------------------------------------------------------------------------- claims

def _rows(table, variant=None):
    return [r for r in table.rows if r["experiment"] == "small_string" and (variant is None or r["variant"] == variant)]


SHARE_SAYS = "About 70% of error messages fit inline (23 bytes or less)."


def _inline_share(table) -> Verdict:
    rows = [r for r in _rows(table) if r.get("metric_inline_share") is not None]
    if not rows:
        return Verdict(SHARE_SAYS, "needs small_string rows", "not measured", "Run any small_string variant.")
    by_set = {}
    for r in rows:
        by_set.setdefault(r.get("param_messages"), []).append(r["metric_inline_share"])
    shares = {k: float(np.median(v)) for k, v in by_set.items()}
    measured = "; ".join(f"{k} messages: {v:.0%} fit in 23 bytes" for k, v in sorted(shares.items()))
    share = shares.get("all", next(iter(shares.values())))
    if 0.6 <= share <= 0.8:
        return Verdict(SHARE_SAYS, measured, "holds", "The C library's messages are about as short as claimed.")
    if share >= 0.5:
        return Verdict(SHARE_SAYS, measured, "partly holds",
                       "Most messages fit, but the share is not about 70%: it depends on how messages are formatted.")
    return Verdict(SHARE_SAYS, measured, "does not hold",
                   "Fewer than half fit: formatted messages (a path, a pid) push most past 23 bytes.")


SPEED_SAYS = "An inline small string takes about 8 ns where a heap string takes 23 ns."


def _ns_per_message(rows, variant):
    rates = [r["threads"] / r["ops_per_sec"] * 1e9 for r in rows if r["variant"] == variant and r["ops_per_sec"]]
    return float(np.median(rates)) if rates else None


def _inline_speed(table) -> Verdict:
    rows = [r for r in _rows(table) if r["threads"] == 1]
    inline, heap = _ns_per_message(rows, "inline"), _ns_per_message(rows, "heap")
    if inline is None or heap is None:
        return Verdict(SPEED_SAYS, "needs inline and heap rows at 1 thread", "not measured",
                       "Run small_string's inline and heap variants at 1 thread.")
    measured = f"1 thread: inline {inline:.1f} ns, heap {heap:.1f} ns per message ({heap / inline:.2f}x)"
    ratio = heap / inline
    if ratio >= 2.0:
        return Verdict(SPEED_SAYS, measured, "holds",
                       "Skipping malloc/free for short messages makes them several times cheaper, as claimed "
                       "(compare the ratio, not the nanoseconds: those depend on the machine).")
    if ratio > 1.1:
        return Verdict(SPEED_SAYS, measured, "partly holds", "Inline is faster, but by less than the claimed ~3x.")
    return Verdict(SPEED_SAYS, measured, "does not hold", "The heap path kept up: this malloc is very fast here.")


CLAIMS = (
    Claim("inline-string-share", "Tier 2, item 9 (SmartString)", SHARE_SAYS, "small_string", _inline_share),
    Claim("inline-string-speed", "Tier 2, item 9 (SmartString)", SPEED_SAYS, "small_string", _inline_speed),
)
