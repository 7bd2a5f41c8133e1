"""opensnoop in Python: every open(2)/openat(2), with its result — the
program of src/pybpf/tools/opensnoop.bpf.c written in pybpf.lang.

    sudo python examples/lang/opensnoop.py
"""

from pybpf.lang import (
    HashMap,
    Knob,
    RingBuf,
    Struct,
    char,
    inline,
    s32,
    s64,
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
    bpf_probe_read_user_str,
)

LICENSE = "Dual MIT/GPL"

target_pid = Knob(s32, 0)       # only this process (0: all)
failed_only = Knob(u8, 0)


class OpenStart(Struct):
    path: u64
    flags: s32
    pad: s32


class OpenEvent(Struct):
    pid: s32
    tid: s32
    uid: s32
    ret: s32
    flags: s32
    pad: s32
    comm: char[16]
    path: char[256]


starts = HashMap[s32, OpenStart](max_entries=8192)
events = RingBuf(max_entries=512 * 1024)


@inline
def enter(path: u64, flags: s32) -> int:
    pid_tgid = bpf_get_current_pid_tgid()
    if target_pid != 0 and s32(pid_tgid >> 32) != target_pid:
        return 0
    starts[s32(u32(pid_tgid))] = OpenStart(path=path, flags=flags)
    return 0


@inline
def leave(ret: s64) -> int:
    pid_tgid = bpf_get_current_pid_tgid()
    tid = s32(u32(pid_tgid))
    s = starts.get(tid)
    if s is None:
        return 0
    if failed_only == 0 or ret < 0:
        e = events.reserve(OpenEvent)
        e.pid = s32(pid_tgid >> 32)
        e.tid = tid
        e.uid = s32(u32(bpf_get_current_uid_gid()))
        e.ret = s32(ret)
        e.flags = s.flags
        bpf_get_current_comm(e.comm, sizeof(e.comm))
        bpf_probe_read_user_str(e.path, sizeof(e.path), s.path)
        events.submit(e)
    del starts[tid]
    return 0


@tracepoint("syscalls/sys_enter_openat")
def enter_openat(ctx) -> int:
    return enter(ctx.filename, s32(ctx.flags))


@tracepoint("syscalls/sys_exit_openat")
def exit_openat(ctx) -> int:
    return leave(ctx.ret)


@tracepoint("syscalls/sys_enter_open")
def enter_open(ctx) -> int:
    return enter(ctx.filename, s32(ctx.flags))


@tracepoint("syscalls/sys_exit_open")
def exit_open(ctx) -> int:
    return leave(ctx.ret)


def main() -> None:
    from pybpf.lang.run import load

    def show(e: OpenEvent) -> None:
        fd, err = (e.ret, 0) if e.ret >= 0 else (-1, -e.ret)
        print(f"{e.pid:>7} {e.comm.decode():<16} {fd:>4} {err:>3} {e.path.decode()}", flush=True)

    with load(__file__) as f:
        f.attach()
        f.ringbuf(events, show)
        print(f"{'PID':>7} {'COMM':<16} {'FD':>4} {'ERR':>3} PATH", flush=True)
        f.poll()


if __name__ == "__main__":
    main()
