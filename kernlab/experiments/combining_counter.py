"""The `combining_counter` experiment: a hot counter, five ways, one of them wrong.

Thread ``tid``'s ``n``-th operation adds ``delta(tid, n) = 1 + ((tid + n) & 3)``, so the
exact final value is known from the per-thread operation counts, and swapped or
duplicated per-request results show up in a replay. With ``verify_ops`` > 0 each thread
logs the value its add returned (the counter just before it) and stops after that many
operations; the check then replays the log: sorted by returned value, every request
must start exactly where the previous one ended, the last one must end at the final
count, and each thread's values must increase in its program order (linearizability
of fetch_add, checked for `atomic`, `mutex` and `flat_combining`; `sharded` and
`seed_design` return no pre-operation value).

Shared state (fresh per trial):
    counter  int64: the shared counter (atomic, mutex, flat_combining, seed_design)
    futex    int32: the mutex word
    slots    per-thread padded slots (sharded); the value is their sum
    records  flat-combining publication records, one padded row per thread
    fc_lock  int64: the combiner lock
    fc_stats int64: combining passes and the batch-size histogram
    queue    int64: the seed design's bounded queue of pending deltas
    control  int64: the seed design's ring tail and combiner lock
    fallback per-thread count of seed fallbacks taken with the delta still queued
    log      (threads, max(verify_ops, 1)) int64: returned pre-operation values
    cfg      int64: verify_ops
"""
import numpy as np

from .. import atomics as A
from ..claims import Claim, Verdict, median_rate
from ..declaration import Check, Experiment, Param, Variant
from ..jit import inline_kernel
from ..layout import aligned_zeros, padded_fields, padded_rows, padded_scalar, padded_slots
from ..primitives import flat_combining as FC
from ..primitives import locks as L

NO_RESULT = -1


@inline_kernel
def delta_of(tid, n):
    return 1 + ((tid + n) & 3)


@inline_kernel
def _log_full(cfg, n):
    return cfg[0] > 0 and n >= cfg[0]


@inline_kernel
def _log(log, cfg, tid, n, value):
    if cfg[0] > 0:
        log[tid, n] = value   # only thread tid writes its row; read after join


# Helpers are inline_kernels (see jit: no call passes arrays field by field), and each op
# takes the arrays it needs out of `state` once, at the top.

@inline_kernel
def op_atomic(ctl, state, tid, n):
    counter, log, cfg = state[0], state[9], state[10]
    if _log_full(cfg, n):
        return -1
    # relaxed: a counter publishes nothing
    _log(log, cfg, tid, n, A.fetch_add_relaxed(counter, 0, delta_of(tid, n)))
    return 0


@inline_kernel
def op_mutex(ctl, state, tid, n):
    counter, futex, log, cfg = state[0], state[1], state[9], state[10]
    if _log_full(cfg, n):
        return -1
    sleeps = L.mutex_acquire(futex, 0, ctl)
    if sleeps < 0:
        return -1
    # relaxed: the mutex orders these; atomics only stop the compiler merging them.
    before = A.load_relaxed(counter, 0)
    A.store_relaxed(counter, 0, before + delta_of(tid, n))
    L.mutex_release(futex, 0)
    _log(log, cfg, tid, n, before)
    return sleeps


@inline_kernel
def op_sharded(ctl, state, tid, n):
    slots, log, cfg = state[2], state[9], state[10]
    if _log_full(cfg, n):
        return -1
    # single writer per slot: relaxed load + store cannot lose an update.
    A.store_relaxed(slots, (tid, 0), A.load_relaxed(slots, (tid, 0)) + delta_of(tid, n))
    _log(log, cfg, tid, n, NO_RESULT)
    return 0


@inline_kernel
def op_flat_combining(ctl, state, tid, n):
    counter, records, fc_lock, fc_stats, log, cfg = state[0], state[3], state[4], state[5], state[9], state[10]
    if _log_full(cfg, n):
        return -1
    _log(log, cfg, tid, n, FC.fc_add(records, fc_lock, counter, fc_stats, tid, delta_of(tid, n)))
    return 0


@inline_kernel
def op_seed_design(ctl, state, tid, n):
    counter, queue, control, fallback, log, cfg = state[0], state[6], state[7], state[8], state[9], state[10]
    if _log_full(cfg, n):
        return -1
    doubled = FC.seed_add(queue, control, counter, delta_of(tid, n))
    if doubled:
        A.store_relaxed(fallback, (tid, 0), A.load_relaxed(fallback, (tid, 0)) + 1)
    _log(log, cfg, tid, n, NO_RESULT)
    return doubled


def setup(threads, params):
    verify = params["verify_ops"]
    counter = padded_scalar()
    futex = padded_scalar(np.int32)
    slots = padded_slots(threads)
    records = padded_rows(threads, 3)
    fc_lock = padded_scalar()
    fc_stats = aligned_zeros(FC.FC_HIST + threads * FC.FC_MAX_ROUNDS + 1, np.int64)
    queue = aligned_zeros(FC.SEED_QUEUE_SLOTS, np.int64)
    control = padded_fields(2)   # SEED_TAIL, SEED_LOCK
    fallback = padded_slots(threads)
    log = np.full((threads, max(verify, 1)), NO_RESULT, np.int64)
    cfg = np.array([verify], np.int64)
    return counter, futex, slots, records, fc_lock, fc_stats, queue, control, fallback, log, cfg


def expected_total(per_thread_ops) -> int:
    """Sum of delta(tid, n) over every operation performed (closed form per thread)."""
    total = 0
    for tid, ops in enumerate(int(x) for x in per_thread_ops):
        full, rest = divmod(ops, 4)
        total += full * 10 + sum(1 + ((tid + full * 4 + j) & 3) for j in range(rest))
    return total


def observed_total(state) -> int:
    counter, _, slots, *_ = state
    queued = int(state[6].sum())     # seed design: deltas still waiting in the queue
    return int(counter[0]) + int(slots[:, 0].sum()) + queued


def replay(state, per_thread_ops) -> str | None:
    """Sequential replay of the logged pre-operation values; None if consistent."""
    log = state[9]
    final = int(state[0][0])
    pres, deltas = [], []
    for tid, ops in enumerate(int(x) for x in per_thread_ops):
        mine = log[tid, :ops]
        if ops > log.shape[1]:
            return f"thread {tid} ran {ops} operations, more than the log holds ({log.shape[1]})"
        if ops > 1 and np.any(np.diff(mine) <= 0):
            return f"thread {tid}: returned values do not increase in its program order"
        pres.append(mine)
        deltas.append(1 + ((tid + np.arange(ops)) & 3))
    pre, delta = np.concatenate(pres), np.concatenate(deltas)
    if len(pre) == 0:
        return None
    order = np.argsort(pre, kind="stable")
    pre, delta = pre[order], delta[order]
    ends = pre + delta
    if pre[0] != 0:
        return f"the first request saw {pre[0]}, not 0"
    bad = np.nonzero(pre[1:] != ends[:-1])[0]
    if len(bad):
        i = int(bad[0])
        return (f"request {i + 1} in replay order saw {pre[i + 1]} but the one before it ended at "
                f"{ends[i]} (a duplicated or wrong per-request result)")
    if ends[-1] != final:
        return f"the replay ends at {ends[-1]} but the counter holds {final}"
    return None


def check(state, per_thread_ops, params):
    expected = expected_total(per_thread_ops)
    observed = observed_total(state)
    if observed != expected:
        if observed > expected:
            return Check(False, f"double counted: the count is {observed:,}, the operations added up to "
                                f"{expected:,} ({observed - expected:,} too many)")
        return Check(False, f"lost updates: the count is {observed:,}, expected {expected:,}")
    detail = f"count {observed:,} = sum of all deltas added"
    logged = params["verify_ops"] > 0 and np.any(state[9] != NO_RESULT)
    if logged:
        problem = replay(state, per_thread_ops)
        if problem:
            return Check(False, "per-request results wrong: " + problem)
        detail += f"; {int(per_thread_ops.sum()):,} per-request results match a sequential replay"
    return Check(True, detail)


def metrics(state, per_thread_ops, per_thread_aux, params):
    stats = state[5]
    passes = int(stats[FC.FC_PASSES])
    hist = stats[FC.FC_HIST:].astype(int).tolist()
    served = sum(k * c for k, c in enumerate(hist))
    out = {"excess": observed_total(state) - expected_total(per_thread_ops),
           "combining_passes": passes,
           "mean_batch": float(served / passes) if passes else 0.0,
           "batch_hist": hist,
           "seed_fallbacks": int(state[8][:, 0].sum())}
    return out


EXPERIMENT = Experiment(
    name="combining_counter",
    title="A hot counter: atomic, mutex, sharded, flat combining, and the catalogue's design",
    help="T threads add small deltas to one counter. The final count must equal the sum of the deltas; "
         "`seed_design` (the catalogue's queue-based combiner) double counts under contention.",
    params=(
        Param("verify_ops", int, 0, "0: timed run; N > 0: each thread logs its add's result, stops after "
              "N operations, and the check replays every result", low=0, high=1 << 20),
    ),
    variants=(
        Variant("atomic", op_atomic, "one fetch_add on the shared counter"),
        Variant("mutex", op_mutex, "futex mutex around a plain add; aux counts sleeps"),
        Variant("sharded", op_sharded, "per-thread padded slots, reads sum them (a statistical counter)"),
        Variant("flat_combining", op_flat_combining,
                "Hendler et al. 2010: publication records, one combiner serves every pending request"),
        Variant("seed_design", op_seed_design,
                "the catalogue's queue + try-lock + fallback design: double counts (broken on purpose); "
                "aux counts fallbacks with the delta still queued", broken=True),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="waits",
    default_variants=("atomic", "mutex", "sharded", "flat_combining", "seed_design"),
)


# ----------------------------------------------------------------------------- claims

FLAT_COMBINING_SAYS = ("Flat combining lifts a hot counter from about 150M ops/s (direct atomic) to about "
                       "1.2B ops/s on 16 cores, an 8x gain.")
CONTENTION_SAYS = "A simple algorithm without contention beats a clever one with contention."


def _largest_fitting(table, experiment, variants):
    rows = [r for r in table.rows if r["experiment"] == experiment and r["variant"] in variants
            and not r["oversubscribed"]]
    return max((r["threads"] for r in rows), default=None)


def _flat_combining(table) -> Verdict:
    says = FLAT_COMBINING_SAYS
    t = _largest_fitting(table, "combining_counter", ("atomic", "flat_combining"))
    at = lambda v: median_rate(table, experiment="combining_counter", variant=v, threads=t)
    fc, atomic, sharded = (at(v) for v in ("flat_combining", "atomic", "sharded")) if t else (None,) * 3
    if fc is None or atomic is None:
        return Verdict(says, "needs atomic and flat_combining rows", "not measured",
                       "Run both variants at the same thread count.")
    measured = (f"{t} threads: flat_combining {fc / 1e6:,.1f}M ops/s, atomic {atomic / 1e6:,.1f}M ops/s "
                f"({fc / atomic:.2f}x)")
    if sharded is not None:
        measured += f"; sharded {sharded / 1e6:,.1f}M ops/s ({sharded / atomic:.2f}x atomic)"
    if t < 2:
        return Verdict(says, measured, "not measured", "Combining needs at least two threads.")
    if fc / atomic >= 6:
        return Verdict(says, measured, "holds", "Combining beat the direct atomic by a wide margin here.")
    why = ("Every flat-combining request still waits for a combiner that writes one shared counter and "
           "touches every requester's record: at best it matches one atomic add per batch, so it cannot "
           "multiply throughput several-fold. Rates near a billion per second need per-thread counters "
           "that share no cache line (`sharded`), whose reads then cost a sum over all slots.")
    if fc / atomic > 1.1:
        return Verdict(says, measured, "partly holds", "Flat combining beat the atomic here, but far from 8x. " + why)
    return Verdict(says, measured, "does not hold", why)


def _contention(table) -> Verdict:
    says = CONTENTION_SAYS
    t = _largest_fitting(table, "combining_counter", ("sharded", "flat_combining"))
    at = lambda v: median_rate(table, experiment="combining_counter", variant=v, threads=t)
    sharded, fc = (at("sharded"), at("flat_combining")) if t else (None, None)
    if sharded is None or fc is None or t < 2:
        return Verdict(says, "needs sharded and flat_combining rows at 2+ threads", "not measured",
                       "Run both at the same thread count (2 or more).")
    ratio = sharded / fc
    measured = f"{t} threads: sharded (no shared line) {ratio:.1f}x flat combining (one shared counter)"
    if ratio > 1.5:
        return Verdict(says, measured, "holds", "Removing the shared cache line beats the cleverer combiner.")
    return Verdict(says, measured, "does not hold", "The contended design kept up here.")


CLAIMS = (
    Claim("flat-combining-8x", "Tier 1, item 2", FLAT_COMBINING_SAYS, "combining_counter", _flat_combining),
    Claim("contention-beats-algorithm", "Design principles: Contention and Scaling", CONTENTION_SAYS,
          "combining_counter", _contention),
)
