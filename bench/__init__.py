"""hygge's benchmark: the same moves done by hygge, by the raw engines under it, and by dlt, each in its own process.

Run it with `python bench/run.py --help`; see bench/README.md.
"""
