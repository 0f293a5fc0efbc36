"""The error-message table of the `small_string` experiment (no ``EXPERIMENT`` here).

``message_table()`` builds it from this machine's C library: ``os.strerror`` of every
errno it knows (not "Unknown error N"), bare, and formatted three ways with a path or a
pid the way tools print them: ``perror``'s ``<path>: <message>``, procps kill's
``(<pid>) - <message>`` and ``pid <pid>: <message>``. Paths and pids are drawn with a
fixed seed (pids up to Linux's default ``pid_max`` of 32768). The table that the
experiment uses ships as ``data/error-messages.json`` (regenerate it with
``python benchmarks/make_error_messages.py``), so runs on other machines measure the same
text; without the file, the table is built from the C library at hand.
"""
from __future__ import annotations

import errno
import os
import platform
import sys
from datetime import datetime, timezone

import numpy as np

TABLE_FILE = "error-messages.json"
PATHS = ("/etc/shadow", "/dev/null", "/tmp/kernlab.sock", "/var/log/syslog", "/home/user/.config/app/settings.toml",
         "/sys/fs/cgroup/cpu.max", "/usr/lib/x86_64-linux-gnu/libc.so.6")
FORMATS = ("{path}: {message}", "({pid}) - {message}", "pid {pid}: {message}")


def message_table(seed: int = 2026) -> dict:
    """``{"how", "made_with", "messages": [{"errno", "kind", "text"}]}`` from this C library."""
    rng = np.random.default_rng(seed)
    messages = []
    for number in range(1, 512):
        text = os.strerror(number)
        if text.startswith("Unknown error"):
            continue
        name = errno.errorcode.get(number, str(number))
        messages.append({"errno": name, "kind": "strerror", "text": text})
        for fmt in FORMATS:
            path = PATHS[int(rng.integers(len(PATHS)))].replace("app", "kernlab")
            pid = int(rng.integers(2, 32768))
            kind = "path" if "{path}" in fmt else "pid"
            messages.append({"errno": name, "kind": kind, "text": fmt.format(path=path, pid=pid, message=text)})
    return {"how": "kernlab.experiments._messages.message_table() via benchmarks/make_error_messages.py: "
                   "os.strerror of every known errno, bare and formatted with a path or a pid",
            "made_with": {"libc": " ".join(platform.libc_ver()), "os": platform.platform(),
                          "python": sys.version.split()[0],
                          "at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            "messages": messages}


def shipped_table() -> dict | None:
    from ..workspace import reference, reference_files
    return reference(TABLE_FILE) if TABLE_FILE in reference_files() else None


def message_texts(which: str = "all") -> list:
    """The messages (text only) of the shipped table, or of this C library without it."""
    table = shipped_table() or message_table()
    kinds = {"all": ("strerror", "path", "pid"), "strerror": ("strerror",), "formatted": ("path", "pid")}[which]
    return [m["text"] for m in table["messages"] if m["kind"] in kinds]


def message_arrays(which: str = "all"):
    """``(text, offsets, lengths, sums)``: every message's UTF-8 bytes zero-padded to whole
    int64 words in ``text`` (plus 3 spare words), its first word, byte length and word sum."""
    encoded = [t.encode() for t in message_texts(which)]
    lengths = np.array([len(b) for b in encoded], np.int64)
    words = (lengths + 7) // 8
    offsets = np.concatenate([[0], np.cumsum(words)[:-1]]).astype(np.int64)
    raw = b"".join(b.ljust(8 * w, b"\0") for b, w in zip(encoded, words)) + b"\0" * 24
    text = np.frombuffer(raw, dtype="<i8").astype(np.int64)
    sums = np.array([text[o:o + w].sum() for o, w in zip(offsets, words)], np.int64)
    return text, offsets, lengths, sums
