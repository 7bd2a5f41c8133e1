"""execsnoop in Python: every execve, with its arguments and result — the
program of src/pybpf/tools/execsnoop.bpf.c written in pybpf.lang.

    sudo python examples/lang/execsnoop.py
"""

from pybpf.lang import (
    HashMap,
    Knob,
    PerCPUArray,
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
from pybpf.lang.helpers import (
    bpf_get_current_comm,
    bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid,
    bpf_probe_read_user,
    bpf_probe_read_user_str,
)

LICENSE = "Dual MIT/GPL"
MAX_ARGS = 8
ARG_LEN = 64

target_ppid = Knob(s32, 0)      # only children of this process (0: all)
failed_only = Knob(u8, 0)


class ExecEvent(Struct):
    pid: s32
    ppid: s32
    uid: s32
    retval: s32
    argc: s32           # arguments read (at most MAX_ARGS)
    more: s32           # 1 when there were more
    comm: char[16]
    filename: char[128]
    argv: char[64][8]


pending = HashMap[s32, ExecEvent](max_entries=4096)
scratch = PerCPUArray[u32, ExecEvent](max_entries=1)
events = RingBuf(max_entries=512 * 1024)


@tracepoint("syscalls/sys_enter_execve")
def enter_execve(ctx) -> int:
    task = current_task()
    pid_tgid = bpf_get_current_pid_tgid()
    tid = s32(u32(pid_tgid))
    ppid = s32(task.real_parent.tgid)
    if target_ppid != 0 and ppid != target_ppid:
        return 0
    e = scratch.get(0)
    if e is None:
        return 0
    e.pid = s32(pid_tgid >> 32)
    e.ppid = ppid
    e.uid = s32(u32(bpf_get_current_uid_gid()))
    e.retval = 0
    e.argc = 0
    e.more = 0
    bpf_probe_read_user_str(e.filename, sizeof(e.filename), ctx.filename)
    argv = ctx.argv
    arg = u64[1]()
    for i in range(MAX_ARGS):
        e.argv[i][0] = 0
        arg[0] = 0
        if bpf_probe_read_user(arg, 8, argv + i * 8) != 0 or arg[0] == 0:
            break
        bpf_probe_read_user_str(e.argv[i], ARG_LEN, arg[0])
        e.argc = i + 1
    if e.argc == MAX_ARGS:
        arg[0] = 0
        if bpf_probe_read_user(arg, 8, argv + MAX_ARGS * 8) == 0 and arg[0] != 0:
            e.more = 1
    pending[tid] = e[0]
    return 0


@tracepoint("syscalls/sys_exit_execve")
def exit_execve(ctx) -> int:
    tid = s32(u32(bpf_get_current_pid_tgid()))
    e = pending.get(tid)
    if e is None:
        return 0
    if failed_only == 0 or ctx.ret < 0:
        out = events.reserve(ExecEvent)
        out[0] = e[0]
        out.retval = s32(ctx.ret)
        bpf_get_current_comm(out.comm, sizeof(out.comm))
        events.submit(out)
    del pending[tid]
    return 0


def main() -> None:
    from pybpf.lang.run import load

    def show(e: ExecEvent) -> None:
        args = " ".join(a.decode(errors="replace") for a in e.argv[:e.argc])
        more = " ..." if e.more else ""
        print(f"{e.comm.decode():<16} {e.pid:>7} {e.ppid:>7} {e.retval:>4} {args}{more}",
              flush=True)

    with load(__file__) as f:
        f.attach()
        f.ringbuf(events, show)
        print(f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'RET':>4} ARGS", flush=True)
        f.poll()


if __name__ == "__main__":
    main()
