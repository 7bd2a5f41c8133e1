"""runqlat in Python: how long runnable tasks wait for a CPU, as a log2
histogram — the program of src/pybpf/tools/runqlat.bpf.c written in
pybpf.lang (BTF-typed tracepoints: tp_btf).

    sudo python examples/lang/runqlat.py 5          # for 5 seconds
"""

from pybpf.lang import Array, HashMap, Knob, inline, kernel, ptr, s32, tp_btf, u8, u32, u64
from pybpf.lang.helpers import bpf_ktime_get_ns

LICENSE = "Dual MIT/GPL"
MAX_SLOTS = 32

target_pid = Knob(s32, 0)       # only this process (0: all)
millis = Knob(u8, 0)            # milliseconds instead of microseconds

queued = HashMap[s32, u64](max_entries=16384)
hist = Array[u32, u64](max_entries=MAX_SLOTS)


@inline
def slot_of(v: u64) -> u32:
    """Slot i counts values in [2^(i-1), 2^i); slot 0 counts 0."""
    slot: u32 = 0
    for _ in range(64):
        if v == 0:
            break
        v >>= 1
        slot += 1
    return slot if slot < MAX_SLOTS else MAX_SLOTS - 1


@inline
def enqueue(tgid: s32, pid: s32) -> int:
    if pid == 0 or (target_pid != 0 and tgid != target_pid):
        return 0
    queued[pid] = bpf_ktime_get_ns()
    return 0


@tp_btf("sched_wakeup")
def on_wakeup(ctx) -> int:
    p = ptr[kernel.task_struct](ctx.arg(0))
    return enqueue(p.tgid, p.pid)


@tp_btf("sched_wakeup_new")
def on_wakeup_new(ctx) -> int:
    p = ptr[kernel.task_struct](ctx.arg(0))
    return enqueue(p.tgid, p.pid)


@tp_btf("sched_switch")
def on_switch(ctx) -> int:
    prev = ptr[kernel.task_struct](ctx.arg(1))
    nxt = ptr[kernel.task_struct](ctx.arg(2))
    if prev.__state == 0:              # TASK_RUNNING: back in the queue
        enqueue(prev.tgid, prev.pid)
    pid = nxt.pid
    start = queued.get(pid)
    if start is None:
        return 0
    delta = bpf_ktime_get_ns() - start[0]
    del queued[pid]
    delta //= 1000000 if millis != 0 else 1000
    hist[slot_of(delta)] += 1
    return 0


def main() -> None:
    import sys

    from pybpf.lang.run import load

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else None
    with load(__file__) as f:
        f.attach()
        print("tracing run queue latency; Ctrl-C to stop", flush=True)
        f.poll(duration=seconds)
        from pybpf.pictures.histogram import log2_bars

        counts = dict(hist.items())
        print(log2_bars([counts.get(i, 0) for i in range(MAX_SLOTS)], "usecs"))


if __name__ == "__main__":
    main()
