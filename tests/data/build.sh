#!/bin/sh
# Rebuild the test objects: each source with the ziglang wheel and with clang.
set -e
cd "$(dirname "$0")"
for src in *.bpf.c; do
	base=${src%.c}
	for cc in zig clang; do
		PYTHONPATH=../../src python -c "import sys; from pybpf.toolchain import compile; \
compile(sys.argv[1], sys.argv[2], compiler=sys.argv[3], arch='x86')" "$src" "$base.$cc.o" "$cc"
	done
done
