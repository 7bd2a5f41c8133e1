"""syscount in Python: system calls counted (and timed) by syscall or by
process — the program of src/pybpf/tools/syscount.bpf.c written in
pybpf.lang.

    sudo python examples/lang/syscount.py 5         # for 5 seconds
"""

from pybpf.lang import HashMap, Knob, Struct, char, s32, sizeof, tracepoint, u8, u32, u64
from pybpf.lang.helpers import bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns
from pybpf.spec import constant

LICENSE = "Dual MIT/GPL"
BPF_NOEXIST = constant("BPF_NOEXIST")

target_pid = Knob(s32, 0)       # only this process (0: all)
by_process = Knob(u8, 0)        # key by pid instead of syscall
failed_only = Knob(u8, 0)       # only calls returning an error


class SysStat(Struct):
    count: u64
    total_ns: u64
    comm: char[16]      # when counting by process


starts = HashMap[s32, u64](max_entries=16384)
stats = HashMap[s32, SysStat](max_entries=4096)


@tracepoint("raw_syscalls/sys_enter")
def sys_enter(ctx) -> int:
    pid_tgid = bpf_get_current_pid_tgid()
    now = bpf_ktime_get_ns()
    if target_pid != 0 and s32(pid_tgid >> 32) != target_pid:
        return 0
    starts[s32(u32(pid_tgid))] = now
    return 0


@tracepoint("raw_syscalls/sys_exit")
def sys_exit(ctx) -> int:
    pid_tgid = bpf_get_current_pid_tgid()
    tid = s32(u32(pid_tgid))
    start = starts.get(tid)
    if start is None:
        return 0
    delta = bpf_ktime_get_ns() - start[0]
    del starts[tid]
    if ctx.id < 0 or (failed_only != 0 and ctx.ret >= 0):
        return 0
    key = s32(pid_tgid >> 32) if by_process != 0 else s32(ctx.id)
    s = stats.get(key)
    if s is None:
        zero = SysStat()
        if by_process != 0:
            bpf_get_current_comm(zero.comm, sizeof(zero.comm))
        stats.update(key, zero, BPF_NOEXIST)
        s = stats.get(key)
        if s is None:
            return 0
    s.count += 1            # atomic: another CPU may count the same key
    s.total_ns += delta
    return 0


def main() -> None:
    import sys

    from pybpf.lang.run import load

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else None
    with load(__file__) as f:
        f.attach()
        print("counting system calls; Ctrl-C to stop", flush=True)
        f.poll(duration=seconds)
        rows = sorted(stats.items(), key=lambda kv: -kv[1].count)[:20]
        print(f"{'SYSCALL':>8} {'COUNT':>10} {'TIME(us)':>12}")
        for nr, st in rows:
            print(f"{nr:>8} {st.count:>10} {st.total_ns / 1000:>12.1f}")


if __name__ == "__main__":
    main()
