"""Instruction speed: ns per executed instruction on fixed workloads.

Columns: pybpf's interpreter; a uBPF-class C switch interpreter
(``ref_interp.c``, built with the system C compiler); the kernel's JIT under
``BPF_PROG_TEST_RUN`` (a socket filter program, when ``bpf()`` is allowed).
Ratios are pybpf's time over the reference's.

    python benchmarks/bench_interp.py [--rounds N]
"""

from __future__ import annotations

import argparse

from common import best_of, build_reference_interpreter, print_table, run_reference
from pybpf.helpers import HelperRegistry
from pybpf.isa import assemble, encode
from pybpf.vm import VM
from workloads import WORKLOADS, expected_results


def kernel_ns_per_run(bytecode: bytes, repeat: int) -> tuple[int, float] | str:
    """(r0 low 32 bits, ns per run) from the kernel, or the reason it is unavailable."""
    try:
        from pybpf.kernel import probe_test_run
    except ImportError:
        return "no kernel backend"
    try:
        return probe_test_run(bytecode, repeat)
    except Exception as e:  # the reason goes into the table
        return f"refused: {e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="best of N rounds (default 5)")
    args = parser.parse_args()
    expected = expected_results()
    reference = build_reference_interpreter()
    rows = []
    for name, text in WORKLOADS.items():
        insns = assemble(text)
        bytecode = encode(insns)
        prog = VM(helpers=HelperRegistry(), jit=False).load(insns)
        result = prog.run()
        assert result.r0 == expected[name], (name, result.r0)
        count = result.insn_count
        ours = best_of(prog.run, args.rounds) * 1e9 / count
        row = [name, str(count), f"{ours:.1f}"]
        if reference is not None:
            r0, ns, ref_count = run_reference(reference, bytecode, 200)
            assert r0 == expected[name] and ref_count == count, (name, r0, ref_count)
            ref = ns / count
            row += [f"{ref:.2f}", f"{ours / ref:.0f}x"]
        else:
            row += ["no C compiler", "-"]
        kern = kernel_ns_per_run(bytecode, 50)
        if isinstance(kern, tuple):
            r0, ns = kern
            assert r0 == expected[name] & 0xFFFFFFFF, (name, r0)
            row += [f"{ns / count:.2f}", f"{ours / (ns / count):.0f}x"]
        else:
            row += [kern, "-"]
        rows.append(row)
    print_table(["workload", "insns/run", "pybpf interp ns/insn", "C ref ns/insn",
                 "interp/C", "kernel JIT ns/insn", "interp/kernel"], rows)


if __name__ == "__main__":
    main()
