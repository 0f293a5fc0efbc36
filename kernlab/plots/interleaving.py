"""Pictures of a queue's mechanism, as text: the ring's indices, and the ABA
interleaving of an untagged Treiber stack (with the thread and node ids a run's
evidence names, when given). Pure functions: nothing here runs anything."""
from __future__ import annotations


def ring_picture(capacity: int = 8, head: int = 5, tail: int = 11) -> str:
    """A ring of ``capacity`` slots with monotonic ``head``/``tail`` counters: which
    slots hold items, and where each index lands (``index & (capacity - 1)``)."""
    mask = capacity - 1
    held = {p & mask for p in range(head, tail)}
    cells = "".join(f"[{'#' if i in held else ' '}]" for i in range(capacity))
    h, t = head & mask, tail & mask
    marks = [" "] * (3 * capacity)
    marks[3 * h + 1] = "H"
    marks[3 * t + 1] = "T" if t != h else "*"
    return (f"{cells}\n{''.join(marks)}\n"
            f"head {head} -> slot {h}, tail {tail} -> slot {t}; {tail - head} of {capacity} slots hold items "
            f"(tail - head: never wrapped, so full and empty differ)")


def aba_steps(evidence: dict | None = None) -> str:
    """The classic ABA interleaving, step by step. With a run's ``aba_*`` metrics (or
    ``aba_evidence``), the threads and nodes are the ones that run caught."""
    e = {k.removeprefix("aba_"): v for k, v in (evidence or {}).items()}
    a = f"T{e['installer']}" if e.get("installer", -1) >= 0 else "A"
    b = f"T{e['prev_taker']}" if e.get("prev_taker", -1) >= 0 else "B"
    x = f"node {e['replaced']}" if e.get("replaced", -1) > 0 else "X"
    y = f"node {e['node']}" if e.get("node") else "Y"
    c = f"T{e['detector']}" if "detector" in e else "C"
    rows = [
        (a, f"pop: reads head = {x}, reads {x}.next = {y} ... (stalled before its CAS)"),
        (b, f"pops {x}, then pops {y} (now {b} owns {y})"),
        (b, f"pushes {x} back (reused): head = {x} again, but {x}.next is no longer {y}"),
        (a, f"CAS(head, {x} -> {y}) succeeds: an untagged head looks unchanged"),
        ("", f"head = {y}, a node {b} still owns: the stack is corrupt"),
        (c, f"pops {y}: {y} is handed out twice (the checker's node state says so)"),
        ("tag", f"a tagged head makes step 4 fail: the word is (tag, {x}) and the tag moved on"),
    ]
    width = max(len(w) for w, _ in rows) + 2
    return "\n".join(f"{i + 1}. {who:<{width}}{what}" for i, (who, what) in enumerate(rows))
