"""kernlab: a hands-on laboratory for lock-free and memory patterns."""
__version__ = "0.1.0"
