"""Inline small strings: 24-byte string slots that keep short text in place
(SmartString / compact_str), beside heap strings and interned ids.

Algorithm
    A slot is three 8-byte words in an array of slots (an array of strings, a struct
    field). Its last byte (byte 23, the top byte of word 2 on a little-endian machine)
    says what the other 23 hold:

    * 0 ... 23   inline: the text itself in bytes 0 ... len-1, the length in byte 23;
    * HEAP_TAG   on the heap: word 0 the address from ``malloc``, word 1 the length;
    * INTERN_TAG interned: word 0 the text's id in a static table, word 1 its length.

    ``store_inline`` copies text of at most ``INLINE_CAPACITY`` (23) bytes into the
    slot, no allocation; ``store_heap`` allocates ``len`` bytes (rounded up to words),
    copies the text there and keeps the pointer; ``store_interned`` keeps the id.
    ``text_sum`` reads the text back wherever it lives (a word sum: the reader touches
    every byte); ``release`` frees heap text. Text is handled a word at a time: the
    message table pads every message with zero bytes to whole words.

    ``store_inline_overflow`` is the classic off-by-one (broken on purpose): it lets a
    24-byte string count as "fits", so its 24th byte lands on the length byte and the
    length is written one byte past the slot, over the first byte of the *neighbouring*
    slot.

Invariants
    The tag byte is < 24 or one of the two tags; an inline slot's bytes past ``len``
    are zero (so a word sum equals the table's); a heap slot owns its allocation until
    ``release``. Stores never write outside their own 24 bytes (except the broken one).

Memory ordering
    None: slots belong to one thread. Words are written and read through the relaxed
    word intrinsics (``atomics.store_word_relaxed``), which the compiler cannot fold
    away, so the read-back really reads memory.

Progress guarantee
    Wait-free; ``store_heap`` is as fast as the process's ``malloc``.

References
    compact_str and smartstring (Rust: 24-byte strings, inline up to 23 or 24 bytes
    with the length in the last byte); libc++'s short-string optimisation; the "8 ns vs
    23 ns" claim of the catalogue (Tier 2, item 9).
"""
import numpy as np

from .. import atomics as A
from ..jit import inline_kernel

SLOT_WORDS = 3
INLINE_CAPACITY = 23
HEAP_TAG = 0xFF
INTERN_TAG = 0xFE
TAG_SHIFT = np.int64(56)
LOW7 = (np.int64(1) << TAG_SHIFT) - np.int64(1)   # the 7 text bytes of word 2


@inline_kernel
def tag_of(slots_addr, slot):
    return (A.load_word_relaxed(slots_addr, slot * SLOT_WORDS + 2) >> TAG_SHIFT) & 0xFF


@inline_kernel
def store_inline(slots_addr, slot, text, at, nbytes):
    """Copy ``nbytes`` <= 23 bytes (``text[at:]``, int64 words, zero padded) into the slot."""
    base = slot * SLOT_WORDS
    A.store_word_relaxed(slots_addr, base, text[at])
    A.store_word_relaxed(slots_addr, base + 1, text[at + 1] if nbytes > 8 else 0)
    last = text[at + 2] if nbytes > 16 else 0
    A.store_word_relaxed(slots_addr, base + 2, (last & LOW7) | (nbytes << TAG_SHIFT))


@inline_kernel
def store_inline_overflow(slots_addr, slot, text, at, nbytes):
    """Broken on purpose: treats 24 bytes as fitting. The 24th byte overwrites the
    length byte, and the length goes one byte past the slot: over the neighbour."""
    if nbytes < 24:
        store_inline(slots_addr, slot, text, at, nbytes)
        return
    base = slot * SLOT_WORDS
    A.store_word_relaxed(slots_addr, base, text[at])
    A.store_word_relaxed(slots_addr, base + 1, text[at + 1])
    A.store_word_relaxed(slots_addr, base + 2, text[at + 2])
    after = A.load_word_relaxed(slots_addr, base + 3)          # byte 24: the next slot's byte 0
    A.store_word_relaxed(slots_addr, base + 3, (after & ~np.int64(0xFF)) | nbytes)


@inline_kernel
def store_heap(slots_addr, slot, text, at, nbytes):
    """Allocate the text on the heap; the slot keeps the pointer. Returns the address."""
    words = (nbytes + 7) >> 3
    addr = A.c_malloc(words * 8)
    for w in range(words):
        A.store_word_relaxed(addr, w, text[at + w])
    base = slot * SLOT_WORDS
    A.store_word_relaxed(slots_addr, base, addr)
    A.store_word_relaxed(slots_addr, base + 1, nbytes)
    A.store_word_relaxed(slots_addr, base + 2, np.int64(HEAP_TAG) << TAG_SHIFT)
    return addr


@inline_kernel
def store_interned(slots_addr, slot, message_id, nbytes):
    base = slot * SLOT_WORDS
    A.store_word_relaxed(slots_addr, base, message_id)
    A.store_word_relaxed(slots_addr, base + 1, nbytes)
    A.store_word_relaxed(slots_addr, base + 2, np.int64(INTERN_TAG) << TAG_SHIFT)


@inline_kernel
def inline_sum(slots_addr, slot):
    """The word sum of an inline slot's text (the length byte masked off)."""
    base = slot * SLOT_WORDS
    return (A.load_word_relaxed(slots_addr, base) + A.load_word_relaxed(slots_addr, base + 1)
            + (A.load_word_relaxed(slots_addr, base + 2) & LOW7))


@inline_kernel
def overflow_sum(slots_addr, slot):
    """The broken store's reader: a 24-byte text fills all three words."""
    base = slot * SLOT_WORDS
    return A.load_word_relaxed(slots_addr, base) + A.load_word_relaxed(slots_addr, base + 1) + \
        A.load_word_relaxed(slots_addr, base + 2)


@inline_kernel
def heap_sum(slots_addr, slot):
    """The word sum of a heap slot's text, read through its pointer."""
    base = slot * SLOT_WORDS
    addr = A.load_word_relaxed(slots_addr, base)
    total = np.int64(0)
    for w in range((A.load_word_relaxed(slots_addr, base + 1) + 7) >> 3):
        total += A.load_word_relaxed(addr, w)
    return total


@inline_kernel
def interned_sum(slots_addr, slot, text, offsets):
    """The word sum of an interned slot's text, read from the static table."""
    base = slot * SLOT_WORDS
    at = offsets[A.load_word_relaxed(slots_addr, base)]
    total = np.int64(0)
    for w in range((A.load_word_relaxed(slots_addr, base + 1) + 7) >> 3):
        total += text[at + w]
    return total


@inline_kernel
def text_sum(slots_addr, slot, text, offsets):
    """The word sum of any slot's text, dispatching on its tag byte (tests, checks)."""
    tag = tag_of(slots_addr, slot)
    if tag == HEAP_TAG:
        return heap_sum(slots_addr, slot)
    if tag == INTERN_TAG:
        return interned_sum(slots_addr, slot, text, offsets)
    return inline_sum(slots_addr, slot)


@inline_kernel
def release_heap(slots_addr, slot):
    """A heap string dies: free its text."""
    A.c_free(A.load_word_relaxed(slots_addr, slot * SLOT_WORDS))
