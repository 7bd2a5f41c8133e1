"""exitsnoop in Python: one ring-buffer event per process exit, with its
parent, exit code or signal, lifetime and command — the program of
src/pybpf/tools/exitsnoop.bpf.c written in pybpf.lang, with its
user-space half in the same file.

    sudo python examples/lang/exitsnoop.py          # until Ctrl-C
    pybpf run-py examples/lang/exitsnoop.py         # generic printing
"""

from pybpf.lang import (
    Knob,
    RingBuf,
    Struct,
    char,
    current_task,
    s32,
    sizeof,
    tracepoint,
    u8,
    u32,
    u64,
)
from pybpf.lang.helpers import bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns

LICENSE = "Dual MIT/GPL"

target_pid = Knob(s32, 0)       # only this process (0: all)
target_ppid = Knob(s32, 0)      # only children of this process
failed_only = Knob(u8, 0)       # only non-zero exit codes or signals


class ExitEvent(Struct):
    pid: s32
    ppid: s32
    tid: s32
    exit_code: s32      # exit(2) status, or 0 when killed
    sig: s32            # the signal that killed it (0: exited)
    pad: s32
    start_ns: u64       # task->start_time (CLOCK_MONOTONIC)
    exit_ns: u64        # bpf_ktime_get_ns() at exit
    comm: char[16]


events = RingBuf(max_entries=256 * 1024)


@tracepoint("sched/sched_process_exit")
def handle_exit(ctx) -> int:
    task = current_task()
    pid_tgid = bpf_get_current_pid_tgid()
    pid = s32(pid_tgid >> 32)
    tid = s32(u32(pid_tgid))
    if pid != tid:                      # a thread, not the process
        return 0
    if target_pid != 0 and pid != target_pid:
        return 0
    ppid = s32(task.real_parent.tgid)
    if target_ppid != 0 and ppid != target_ppid:
        return 0
    code = s32(task.exit_code)
    if failed_only != 0 and code == 0:
        return 0
    e = events.reserve(ExitEvent)       # returns 0 here when the ring is full
    e.pid = pid
    e.ppid = ppid
    e.tid = tid
    e.exit_code = (code >> 8) & 0xFF
    e.sig = code & 0x7F
    e.start_ns = task.start_time
    e.exit_ns = bpf_ktime_get_ns()
    bpf_get_current_comm(e.comm, sizeof(e.comm))
    events.submit(e)
    return 0


def main() -> None:
    from pybpf.lang.run import load

    def show(e: ExitEvent) -> None:
        age = (e.exit_ns - e.start_ns) / 1e9
        how = f"signal {e.sig}" if e.sig else f"code {e.exit_code}"
        print(f"{e.comm.decode():<16} {e.pid:>7} {e.ppid:>7} {age:>9.2f} {how}", flush=True)

    with load(__file__) as f:
        f.attach()
        f.ringbuf(events, show)
        print(f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'AGE(s)':>9} EXIT", flush=True)
        f.poll()


if __name__ == "__main__":
    main()
