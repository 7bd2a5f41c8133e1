"""pybpf's standing fuzz and attack suite.

Run from the repository root::

    PYTHONPATH=src python -m fuzz --target vm --budget 600 --cases 100000 --jobs 2
    PYTHONPATH=src python -m fuzz --target all --budget 60 --cases 2000
    PYTHONPATH=src python -m fuzz --target vm --seed 7 --replay 1234   # one case, shown

Targets (:mod:`fuzz.targets`): ``vm`` (random, mutated and attacking
programs against the userspace VM), ``objects`` (mutated ELF and BTF
against the loaders, BTF dump and values, and the linker), ``maps`` (every
userspace map type from threads against a serial model), ``cli`` (the
``pybpf`` command with hostile arguments, a process per case), ``asm``
(hostile assembly text).  Each prints a table: cases, results that are fine
(``ok``, ``rejected`` with a BPFError), and findings (unexpected exception
types, crashes, hangs, escapes, budget overruns, model mismatches,
tracebacks, bad exit codes), with a replay command for each distinct one.

Why a top-level folder rather than ``pybpf.fuzz``: the suite is a
development tool like ``benchmarks/``; it reuses the test suite's
generators (``tests/proggen.py``, ``tests/corpus.py``, hypothesis) and
the shared corpora, none of which ship with the package, and it patches
the VM's address space in its own worker processes to audit every access.
``tests/fuzz/`` runs a few seconds of each target in the default test run
and longer runs as ``slow`` tests.
"""
