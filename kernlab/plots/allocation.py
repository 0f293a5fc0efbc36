"""Pictures of where a buffer comes from, as text: a pool's free lists, an arena's
bump pointer and an inline string's 24 bytes. Pure functions: nothing here runs anything."""
from __future__ import annotations


def pool_picture(threads: int = 2, cached=(3, 1), shared: int = 4) -> str:
    """Per-thread caches (no sharing) over one shared lock-free list (a tagged head)."""
    lines = [f"thread {t} cache  " + " ".join("[buf]" for _ in range(cached[t % len(cached)]))
             + "   <- get/put: no atomics" for t in range(threads)]
    chain = " -> ".join(f"[{chr(65 + i)}]" for i in range(shared)) + " -> none"
    lines += ["", f"shared list  head(tag, top) -> {chain}",
              "             refill: pop a batch when a cache runs dry; flush: push half back when one is full",
              "             miss (both empty): fall back to malloc"]
    return "\n".join(lines)


def arena_picture(region_bytes: int = 512, used=(64, 128, 64)) -> str:
    """One thread's region: buffers handed out back to back, the bump pointer after them."""
    scale = region_bytes // 32
    cells = "".join(chr(65 + i) * (n // scale) for i, n in enumerate(used))
    top = sum(used)
    bar = "[" + cells + "." * (32 - len(cells)) + "]"
    return (f"{bar}\n {' ' * (top // scale)}^ bump offset = {top} of {region_bytes} bytes\n"
            "alloc: offset += size (rounded to 64); end of request: offset = 0 (everything freed at once)")


def inline_string_picture(text: str = "No such file or directory") -> str:
    """A 24-byte string slot holding ``text``: inline if it fits in 23 bytes (length in
    byte 23), else a heap pointer and a length."""
    data = text.encode()
    if len(data) <= 23:
        cells = [chr(c) if 32 <= c < 127 else "." for c in data] + ["0"] * (23 - len(data)) + [str(len(data))]
        how = f"inline: {len(data)} bytes of text, zeros, the length in byte 23 (no malloc)"
    else:
        cells = ["p"] * 8 + ["n"] * 8 + ["."] * 7 + ["H"]
        how = f"heap: {len(data)} bytes do not fit; p = malloc'd pointer, n = length, H = the heap tag"
    row = "|".join(f"{c:>2}" for c in cells)
    return f"bytes  {' '.join(f'{i:>2}' for i in range(0, 24, 1))}\n       {row.replace('|', ' ')}\n{how}"
