"""The fuzz targets, one module each.

Every target module has ``setup(seed) -> state`` (once per worker),
``generate(state, rng) -> case``, ``execute(state, case) -> Result``,
``show(case) -> str`` (for replaying), and ``CASE_TIMEOUT`` (seconds after
which a case counts as a hang).
"""

TARGETS = {
    "vm": "random, mutated and attacking programs against the userspace VM",
    "objects": "mutated ELF objects and BTF against load_object, BTF.from_bytes, dump, "
               "values and the linker",
    "maps": "every userspace map type used from threads, compared with a serial model",
    "cli": "the pybpf command with hostile arguments and files, a process per case",
    "asm": "mutated and random assembly text against the assembler",
    "selftest": "misbehaves on purpose (tests the harness; not part of 'all')",
}
"""Target name -> what it attacks."""

ALL = ("vm", "objects", "maps", "cli", "asm")
"""What ``--target all`` runs."""
