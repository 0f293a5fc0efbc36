"""The `queue` experiment's state layout, item hash, check and metrics (no EXPERIMENT:
the registry skips this module; ``queue`` declares the experiment).

The check, after the runner's join: for each producer p that made sequences
0..N_p-1, the items consumed plus the items left inside must be exactly those N_p
sequences once each. Consumers tallied a count and a wrapping sum of ``item_hash``
per producer; the items left inside are drained here (ring slots between the indices,
the stack from its top, the linked queue from its dummy) and added. Equal counts and
equal hash sums mean exactly once (a duplicate and a loss that cancel in the count
still change the sum). Also: no item failed its checksum, queues delivered each
producer's items in order to every consumer and hold them in order; the stack holds
each producer's items newest on top (LIFO-consistent); no node was handed out twice.
"""
import numpy as np

from ..declaration import Check
from ..jit import inline_kernel, kernel
from ..primitives import lockfree_stack as S
from ..primitives import msqueue as M
from ..primitives import rings as R
from ..primitives.records import mix

C_PRODUCERS, C_THREADS, C_BATCH, C_PWORK, C_CWORK, C_STAMP_MASK, C_CAPACITY, C_WINDOW, C_POOL = range(9)
(S_SEQ, S_UNTALLIED, S_FULL, S_EMPTY, S_RETRIES, S_CORRUPT, S_ORDER, S_DOUBLE,
 S_T_FIRST, S_T_LAST, S_LAT, S_KIND, S_MAG_HEAD, S_MAG_TAIL) = range(14)
T_COUNT, T_HASH, T_LAST = 0, 1, 2        # a consumer's tally row: 4 words per producer
LAT_SAMPLES = 4096
KINDS = ("?", "mutex_deque", "spsc", "spsc_cached", "mpmc", "mpmc_no_seq", "treiber", "treiber_aba", "ms_queue")
K_MUTEX, K_SPSC, K_SPSC_CACHED, K_MPMC, K_NO_SEQ, K_TREIBER, K_ABA, K_MSQ = range(1, 9)
HASH_SALT = 0x5EED


@inline_kernel
def item_hash(producer, seq):
    return mix(producer, seq, HASH_SALT)


@kernel
def expected_hash(producer, count):
    """Wrapping sum of ``item_hash`` over sequences 0..count-1 (what the tallies must add to)."""
    total = np.int64(0)
    for s in range(count):
        total += item_hash(producer, s)
    return total


def _kind(state) -> int:
    kinds = set(int(k) for k in state[1][:, S_KIND]) - {0}
    return kinds.pop() if len(kinds) == 1 else 0


def _left_inside(state, kind) -> list:
    """``[(producer, seq, whole)]`` of the items still inside, oldest (queues) or top (stack) first."""
    if kind in (K_MUTEX, K_SPSC, K_SPSC_CACHED, K_MPMC, K_NO_SEQ):
        return R.ring_contents(state[4], state[5], vyukov=kind == K_MPMC)
    if kind in (K_TREIBER, K_ABA):
        nodes = state[8]
        refs = S.stack_contents(state[7], S.DATA, nodes)
        return [_row_item(nodes, ref - 1) for ref in refs]
    if kind == K_MSQ:
        records = state[16]
        return [_row_item(records, r) for r in M.queue_contents(state[12], records)]
    return []


def _row_item(rows, i):
    payload, stamp = int(rows[i, R.PAYLOAD]), int(rows[i, R.STAMP])
    producer, seq = payload >> R.PRODUCER_SHIFT, payload & R.SEQ_MASK
    return producer, seq, payload >= 0 and int(rows[i, R.SUM]) == int(mix(producer, seq, stamp))


def _order_errors(items, producers, newest_first) -> int:
    last, errors = {}, 0
    for p, s, whole in items:
        if whole and p in last and ((s > last[p]) if newest_first else (s < last[p])):
            errors += 1
        last[p] = s
    return errors


def role_rows(state) -> tuple[list, list]:
    """``(producer tids, consumer tids)`` of a trial: one thread, or a stack with
    ``producers`` 0 (a pool: every thread pushes and pops), has every thread in both."""
    cfg = state[0]
    threads, producers = int(cfg[C_THREADS]), int(cfg[C_PRODUCERS])
    if threads == 1 or (cfg[C_POOL] and _kind(state) in (K_TREIBER, K_ABA)):
        return list(range(threads)), list(range(threads))
    return list(range(producers)), list(range(producers, threads))


def tally_check(state) -> dict:
    """Everything the verdict is made of, as numbers (producer ids are thread ids)."""
    stats, tally = state[1], state[2]
    producers = int(state[0][C_THREADS])
    kind = _kind(state)
    inside = _left_inside(state, kind)
    counts = tally[:, T_COUNT:4 * producers:4].sum(axis=0).astype(np.int64)
    # hash sums wrap modulo 2**64 (the consumers' int64 adds do): Python ints, reduced at the end
    hashes = [sum(int(x) for x in tally[:, 4 * p + T_HASH]) for p in range(producers)]
    corrupt_inside = 0
    for p, s, whole in inside:
        if not whole or not 0 <= p < producers:
            corrupt_inside += 1
            continue
        counts[p] += 1
        hashes[p] += int(item_hash(p, s))
    produced = stats[:, S_SEQ].astype(np.int64)
    mismatched = [p for p in range(producers)
                  if counts[p] != produced[p] or (hashes[p] - int(expected_hash(p, int(produced[p])))) % (1 << 64)]
    stack = kind in (K_TREIBER, K_ABA)
    return {"kind": KINDS[kind], "produced": int(produced.sum()), "consumed": int(consumed_per_thread(state).sum()),
            "left_inside": len(inside), "net_extra": int(counts.sum() - produced.sum()),
            "producers_mismatched": mismatched,
            "corrupt": int(stats[:, S_CORRUPT].sum()) + corrupt_inside,
            "out_of_order": int(stats[:, S_ORDER].sum()) + _order_errors(inside, producers, newest_first=stack),
            "handed_twice": int(stats[:, S_DOUBLE].sum()), "stack": stack}


def consumed_per_thread(state) -> np.ndarray:
    """Items each thread dequeued: its tallied items plus the corrupt ones it could not
    tally (counted apart, so a whole item costs no count of its own in the hot path)."""
    cfg, stats, tally = state[0], state[1], state[2]
    return tally[:, T_COUNT:4 * int(cfg[C_THREADS]):4].sum(axis=1) + stats[:, S_UNTALLIED]


def check(state, per_thread_ops, params):
    t = tally_check(state)
    order = "newest-on-top per producer (LIFO)" if t["stack"] else "in order per producer (FIFO)"
    if not (t["producers_mismatched"] or t["corrupt"] or t["out_of_order"] or t["handed_twice"]):
        return Check(True, f"{t['produced']:,} items produced = {t['consumed']:,} consumed + {t['left_inside']:,} "
                           f"left inside, each exactly once, {order}, none corrupt")
    problems = []
    if t["producers_mismatched"]:
        net = t["net_extra"]
        what = (f"{net:,} more items delivered than produced (duplicates)" if net > 0 else
                f"{-net:,} items lost" if net < 0 else "counts balance but the items differ (duplicated and lost)")
        problems.append(f"{what} for producer(s) {t['producers_mismatched'][:4]}")
    if t["corrupt"]:
        problems.append(f"{t['corrupt']:,} items failed their checksum (stale or torn)")
    if t["out_of_order"]:
        problems.append(f"{t['out_of_order']:,} items out of order (not {order})")
    if t["handed_twice"]:
        problems.append(f"{t['handed_twice']:,} nodes handed out twice (ABA)" + _evidence_text(state))
    return Check(False, "; ".join(problems))


def aba_evidence(state) -> dict | None:
    """The first node handed out twice, and the pop that made it the top again while it
    was not in the stack (found in the threads' pop histories): ``None`` if none."""
    ev, snapshot = state[10], state[11]
    if ev[S.E_FLAG] == 0:
        return None
    node = int(ev[S.E_NODE])
    found = {"node": node, "detector": int(ev[S.E_DETECTOR]), "prev_taker": int(ev[S.E_PREV_TAKER]) - 1,
             "state_seen": int(ev[S.E_STATE]), "detector_old": S.split_word(ev[S.E_OLD])[1],
             "installer": -1, "replaced": -1}
    best = -1
    for t in range(snapshot.shape[0]):
        for k in range(S.HISTORY):
            old, new, count = (int(x) for x in snapshot[t, k, :3])
            if count and S.split_word(new)[1] == node and S.split_word(old)[1] != node and count > best:
                best, found["installer"], found["replaced"] = count, t, S.split_word(old)[1]
    return found


def _evidence_text(state) -> str:
    e = aba_evidence(state)
    if e is None:
        return ""
    text = f": node {e['node']} popped by thread {e['detector']} while thread {e['prev_taker']} held it"
    if e["installer"] >= 0:
        text += f"; thread {e['installer']}'s CAS had replaced head {e['replaced']} by {e['node']}"
    return text


def metrics(state, per_thread_ops, per_thread_aux, params):
    stats, lat = state[1], state[3]
    threads = int(state[0][C_THREADS])
    makers, takers = role_rows(state)
    t = tally_check(state)
    items = max(t["consumed"], 1)
    firsts = stats[:, S_T_FIRST][stats[:, S_T_FIRST] > 0]
    lasts = stats[:, S_T_LAST][stats[:, S_T_LAST] > 0]
    span = (lasts.max() - firsts.min()) / 1e9 if len(firsts) and len(lasts) else 0.0
    samples = np.concatenate([lat[i, :min(int(stats[i, S_LAT]), LAT_SAMPLES)] for i in range(threads)])
    p50, p99, p999 = np.percentile(samples, [50, 99, 99.9]) if len(samples) else (np.nan,) * 3
    prod_rows, cons_rows = stats[makers, S_SEQ].astype(float), consumed_per_thread(state)[takers].astype(float)
    cv = lambda x: float(x.std() / x.mean()) if len(x) and x.mean() > 0 else 0.0
    out = {"items_per_sec": t["consumed"] / span if span > 0 else 0.0, "items": t["consumed"],
           "left_inside": t["left_inside"], "producers": len(makers), "consumers": len(takers),
           "e2e_p50_ns": float(p50), "e2e_p99_ns": float(p99), "e2e_p999_ns": float(p999),
           "e2e_samples": int(len(samples)),
           "full_spins_per_item": float(stats[:, S_FULL].sum() / items),
           "empty_spins_per_item": float(stats[:, S_EMPTY].sum() / items),
           "cas_retries_per_item": float(stats[:, S_RETRIES].sum() / items),
           "producer_cv": cv(prod_rows), "consumer_cv": cv(cons_rows), "handed_twice": t["handed_twice"]}
    e = aba_evidence(state)
    if e is not None:
        out.update({f"aba_{k}": v for k, v in e.items()})
    return out
