"""``python -m fuzz.worker TARGET SEED START END [MEMORY_MB]``: one worker
process of the supervisor (:func:`fuzz.harness.worker_main`)."""

import sys

from fuzz.harness import worker_main

raise SystemExit(worker_main(sys.argv[1:]))
