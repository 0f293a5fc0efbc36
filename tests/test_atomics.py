"""Every atomic operation's result on one thread, then atomicity on real threads."""
import threading
import time

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from kernlab import atomics as A

DTYPES = [np.int64, np.uint64, np.int32]
EXPECT = {"fetch_add": lambda x, v: x + v, "fetch_sub": lambda x, v: x - v, "fetch_and": lambda x, v: x & v,
          "fetch_or": lambda x, v: x | v, "fetch_xor": lambda x, v: x ^ v, "exchange": lambda x, v: v}


def _jit2(fn):
    @njit
    def k(a, i):
        return fn(a, i)
    return k


def _jit3(fn):
    @njit
    def k(a, i, v):
        return fn(a, i, v)
    return k


def _jit4(fn):
    @njit
    def k(a, i, e, d):
        return fn(a, i, e, d)
    return k


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", A.STORE_ORDERINGS)
def test_store_then_load(dtype, order):
    a = np.zeros(4, dtype)
    _jit3(getattr(A, f"store_{order}"))(a, 2, 41)
    assert a.tolist() == [0, 0, 41, 0]
    for lo in A.LOAD_ORDERINGS:
        assert _jit2(getattr(A, f"load_{lo}"))(a, 2) == 41


def test_store_converts_like_c():
    a = np.zeros(1, np.int32)
    _jit3(A.store_relaxed)(a, 0, 2**31 + 5)  # wraps to a negative int32, as C would
    assert a[0] == np.int32(-2**31 + 5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", list(A.RMW_OPS))
@pytest.mark.parametrize("order", A.RMW_ORDERINGS)
def test_read_modify_write(dtype, op, order):
    a = np.array([0, 0b1100, 0], dtype)
    old = _jit3(getattr(A, f"{op}_{order}"))(a, 1, 0b1010)
    assert old == 0b1100
    assert a[1] == dtype(EXPECT[op](0b1100, 0b1010))
    assert a[0] == 0 and a[2] == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", A.RMW_ORDERINGS)
def test_compare_exchange_returns_old_value(dtype, order):
    a = np.array([5, 7], dtype)
    cx = _jit4(getattr(A, f"compare_exchange_{order}"))
    assert cx(a, 1, 7, 9) == 7 and a[1] == 9       # success: returns expected
    assert cx(a, 1, 7, 11) == 9 and a[1] == 9      # failure: returns what it found, no write
    cas = _jit4(getattr(A, f"cas_{order}"))
    assert cas(a, 0, 5, 6) and a[0] == 6
    assert not cas(a, 0, 5, 8) and a[0] == 6


def test_two_dimensional_index_and_wrong_rank():
    rows = np.zeros((3, 8), np.int64)
    _jit3(A.fetch_add_relaxed)(rows, (2, 0), 3)
    assert rows[2, 0] == 3 and rows.sum() == 3
    with pytest.raises(TypingError, match="2-d array needs 2 indices"):
        _jit3(A.fetch_add_relaxed)(rows, 1, 3)


def test_fences_relax_prefetch_and_barrier_run():
    @njit
    def k(a):
        A.fence_acquire()
        A.fence_release()
        A.fence_acq_rel()
        A.fence_seq_cst()
        A.cpu_relax()
        A.compiler_barrier()
        A.prefetch_read(a, 0)
        A.prefetch_write(a, 1)
        return a[0]
    assert k(np.arange(4, dtype=np.int64)) == 0


def test_now_ns_is_the_monotonic_clock():
    now = njit(lambda: A.now_ns())
    before = time.monotonic_ns()
    t1 = now()
    t2 = now()
    after = time.monotonic_ns()
    assert before <= t1 <= t2 <= after


def test_out_of_bounds_index_raises_with_boundscheck():
    k = njit(boundscheck=True)(lambda a, i: A.load_relaxed(a, i))
    with pytest.raises(IndexError):
        k(np.zeros(4, np.int64), 4)


def test_no_bounds_check_unless_numba_checks_bounds():
    """An atomic access is checked exactly when numba checks indexing (a check on every
    access was compiled in unconditionally once, ~2 ns per lookup on the RCU path)."""
    from numba import config, types
    sig = (types.int64[::1], types.int64)
    ir = {}
    for checked in (False, True):
        k = njit(boundscheck=checked, cache=False)(lambda a, i: A.load_relaxed(a, i))
        k.compile(sig)
        ir[checked] = k.inspect_llvm(sig)
    assert "out of bounds" in ir[True]
    if config.BOUNDSCHECK is None:     # NUMBA_BOUNDSCHECK=1 (make test-boundscheck) checks everything
        assert "out of bounds" not in ir[False]


# ------------------------------------------------------------------ threads

GO, READY = 0, 1     # the start barrier: go[GO] releases the threads, go[READY] counts them in


@njit(nogil=True)
def _wait_for_go(go):
    A.fetch_add_release(go, READY, 1)   # release: pairs with the test's polling of READY
    while A.load_acquire(go, GO) == 0:  # acquire: pairs with store_release in _release
        A.cpu_relax()


@njit(nogil=True)
def _release(go):
    A.store_release(go, GO, 1)


@njit(nogil=True)
def _hammer(counter, go, m, racy):
    _wait_for_go(go)
    for _ in range(m):
        if racy:
            A.store_relaxed(counter, 0, A.load_relaxed(counter, 0) + 1)
        else:
            A.fetch_add_relaxed(counter, 0, 1)


@njit(nogil=True)
def _cas_hammer(counter, go, m):
    _wait_for_go(go)
    for _ in range(m):
        old = A.load_relaxed(counter, 0)
        while not A.cas_relaxed(counter, 0, old, old + 1):
            old = A.load_relaxed(counter, 0)


def _race(fn, threads, *args):
    """All threads inside the compiled loop, spinning on GO, before GO is released: the
    race does not depend on how fast Python starts threads on a busy machine."""
    counter, go = np.zeros(16, np.int64), np.zeros(2, np.int64)
    fn(np.zeros(16, np.int64), np.ones(2, np.int64), *args)  # compile outside the race
    _release(np.zeros(2, np.int64))
    pool = [threading.Thread(target=fn, args=(counter, go, *args)) for _ in range(threads)]
    for t in pool:
        t.start()
    while go[READY] < threads:
        time.sleep(0.0005)
    _release(go)
    for t in pool:
        t.join()
    return int(counter[0])


@pytest.mark.stress
@pytest.mark.parametrize("threads", [2, 4])
def test_fetch_add_is_atomic_across_threads(threads):
    m = 300_000
    assert _race(_hammer, threads, m, False) == threads * m


@pytest.mark.stress
@pytest.mark.parametrize("threads", [2, 3])
def test_cas_loop_is_atomic_across_threads(threads):
    m = 200_000
    assert _race(_cas_hammer, threads, m) == threads * m


@pytest.mark.stress
def test_racy_twin_loses_updates():
    """The same loop with a separate load and store must lose updates: proof that the
    exact-count test above can fail. A few attempts, since the OS could serialize one."""
    m = 20_000_000  # tens of ms per thread: long enough to overlap even on a busy machine
    totals = [_race(_hammer, 2, m, True) for _ in range(5)]
    assert all(t <= 2 * m for t in totals)
    assert min(totals) < 2 * m, f"racy increments lost nothing in 5 runs: {totals}"


# ------------------------------------------------------------------ blocking

@njit(nogil=True)
def _timed_wait(word, expected, timeout_ns):
    """One futex_wait, timed in compiled code: (result, ns spent inside)."""
    t0 = A.now_ns()
    r = A.futex_wait(word, 0, expected, timeout_ns)
    return r, A.now_ns() - t0


@njit(nogil=True)
def _sleep_until_set(word, log):
    """Sleep until word[0] != 0. log: [0] set before the first wait, [1] number of
    futex_wait calls, [2] clock when the loop saw the word set."""
    A.store_release(log, 0, 1)   # release: pairs with the test's polling of log[0]
    calls = 0
    while A.load_acquire(word, 0) == 0:
        calls += 1
        A.futex_wait(word, 0, 0, 5_000_000_000)
    log[1] = calls
    log[2] = A.now_ns()


@njit(nogil=True)
def _set_and_wake(word):
    """Returns (clock just before the store, threads woken)."""
    t_set = A.now_ns()
    A.store_release(word, 0, 1)   # release: pairs with load_acquire in _sleep_until_set
    return t_set, A.futex_wake(word, 0, 1)


def _thread_state(tid: int) -> str:
    """'S' while a thread sleeps in the kernel, 'R' while it runs (Linux /proc)."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        return f.read().rpartition(")")[2].split()[0]


@pytest.mark.skipif(not A.HAVE_FUTEX, reason="futex is Linux-only; elsewhere futex_wait yields")
def test_futex_sleeps_until_woken_and_times_out():
    """Causes and order, not durations: compiled first; a timeout returns -1 with no wake
    and not before its timeout; a changed word returns at once (long before its timeout);
    a sleeper leaves only after the wake, woken by it."""
    word = np.zeros(1, np.int32)
    _timed_wait(np.ones(1, np.int32), 0, 1)                          # compile outside any clock
    _sleep_until_set(np.ones(1, np.int32), np.zeros(3, np.int64))
    _set_and_wake(np.zeros(1, np.int32))
    r, slept = _timed_wait(word, 0, 30_000_000)
    assert r == -1 and word[0] == 0 and slept >= 30_000_000            # timed out: nobody woke it
    word[0] = 5
    r, slept = _timed_wait(word, 0, 10_000_000_000)
    assert r == -1 and slept < 10_000_000_000                          # value differs: did not wait
    word[0] = 0
    log = np.zeros(3, np.int64)
    t = threading.Thread(target=_sleep_until_set, args=(word, log))
    t.start()
    while log[0] == 0:                                                 # it is about to wait ...
        time.sleep(0.001)
    native = t.native_id
    for _ in range(5000):                                              # ... and now sleeps in the kernel
        if _thread_state(native) == "S":
            break
        time.sleep(0.001)
    asleep = _thread_state(native) == "S"
    assert t.is_alive()                                                # nothing but the wake can end it
    t_set, woke = _set_and_wake(word)
    t.join(30)
    assert not t.is_alive()
    assert log[2] >= t_set                                             # it left only after the word was set
    assert log[1] >= 1                                                 # it did go to sleep (not spin) ...
    if asleep:
        assert woke == 1                                               # ... and our wake is what woke it


def test_futex_needs_int32():
    with pytest.raises(TypingError, match="int32"):
        njit(lambda w: A.futex_wake(w, 0, 1))(np.zeros(1, np.int64))
