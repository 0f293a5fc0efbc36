"""Regenerate data/error-messages.json, the `small_string` experiment's message table,
from this machine's C library (``os.strerror`` of every errno, bare and formatted with a
path or a pid). Usage: python benchmarks/make_error_messages.py [--out PATH]"""
import argparse
import json
import os

from kernlab.experiments._messages import TABLE_FILE, message_table
from kernlab.tables import atomic_write

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "data", TABLE_FILE))
    args = ap.parse_args()
    table = message_table()
    atomic_write(args.out, json.dumps(table, indent=1))
    lengths = [len(m["text"].encode()) for m in table["messages"]]
    print(f"wrote {args.out}: {len(lengths)} messages, {sum(n <= 23 for n in lengths) / len(lengths):.0%} "
          "of at most 23 bytes")
