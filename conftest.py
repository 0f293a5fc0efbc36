"""Loaded for every pytest run under the checkout (tests/ and notebooks/, with or without
xdist workers): notebooks executed by nbmake read these in their parameters cell, so the
suite's runs stay short (a notebook run by hand keeps its own, longer defaults)."""
import os

os.environ.setdefault("KERNLAB_NB_DURATION", "0.05")
os.environ.setdefault("KERNLAB_NB_REPEATS", "1")
