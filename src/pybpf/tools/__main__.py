"""``python -m pybpf.tools NAME [ARGS...]``."""

from . import main

raise SystemExit(main())
