"""The runtime block: the memory that compiled code and Python share.

Compiled code is position independent and holds no address of the process
that made it: everything that differs from one load to the next (the stack,
map and code addresses, the Python callbacks, the caches of memory
regions) is read from a block of 64-bit slots whose address is the first
argument of every compiled function.  The fixed slots come first; a
program's own tables (its ``lddw`` values, its memory access sites, its
maps) follow at offsets recorded in its :class:`Layout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Fixed slots (indexes of 64-bit words).
STATUS = 0          # 0 while running; STOPPED after an error, ABORTED after a packet abort
BUDGET = 1          # may_goto iterations left
COUNT = 2           # the run's instruction count (see COUNTED_CALLBACKS)
STACK_TOP = 3       # the address of the end of frame 0 (r10 at depth 0)
STACK_DELTA = 4     # host address - program address, for the stack frames
CODE_START = 5      # the program address of instruction 0 (function pointers)
ARENA_BASE = 6      # the upper address bits of arena pointers
TAIL_TAKEN = 7      # whether the last tail call jumped
TAIL_COUNT = 8      # instructions the tail-called program executed
RUN_INDEX = 9       # which run of a repeated test run is executing
ENV = 10            # the host address of the environment's NativeEnvironment (the CPU,
                    # the clock, the random numbers drawn ahead), 0 when no code reads it
CHECK_AT = 11       # the count past which the code asks Python (limits, the clock)
REGS = 12           # r0..r10 for instructions run by the interpreter (11 slots)
CALLBACKS = 23      # the Python callbacks (see CALLBACK_NAMES)
CALLBACK_NAMES = ("helper", "resolve", "step", "tail", "trap", "callx", "clock")
#: The callbacks around which compiled code keeps COUNT current: it stores
#: its count there before the call and continues from what is there after,
#: as the interpreter hands ``METER.n`` to a helper and back.  An entry
#: (``pybpf_entry``) starts counting from COUNT and leaves its total there,
#: so a helper's callbacks and a tail call count on from the caller's
#: instructions: one budget per run.
COUNTED_CALLBACKS = frozenset({"helper", "step", "tail", "callx"})
# What the shared entry functions (pybpf.jit.codegen.RUNTIME) need to know of
# the program: they are compiled once per process, not with each program.
FRAME_SIZE = CALLBACKS + len(CALLBACK_NAMES)   # bytes of one stack frame
GOTO_BUDGET = FRAME_SIZE + 1    # may_goto iterations a run starts with
SITES_FROM = FRAME_SIZE + 2     # the slot of the first access site's cache
SITES_BYTES = FRAME_SIZE + 3    # the bytes of all the sites' caches
MAIN = FRAME_SIZE + 4           # the host address of the function at pc 0
#: The registers a bpf-to-bpf call hands its callee besides r1..r5: in the
#: interpreter a function starts with its caller's r0 and r6..r9 (the
#: caller's r6..r9 come back when it returns).  The caller stores them here
#: just before the call; the callee takes them and leaves zeros, so a
#: function entered from Python finds zeros, as the interpreter starts runs.
CARRIED = FRAME_SIZE + 5        # r0, r6, r7, r8, r9 (5 slots)
CARRIED_REGISTERS = (0, 6, 7, 8, 9)
#: Nonzero while a run the interpreter began enters the code compiled to
#: continue it (``Options.resume_at``): the function at pc 0 then takes
#: r0..r9 from REGS and goes to that block.  The function clears it.
RESUME = CARRIED + len(CARRIED_REGISTERS)
FIXED_SLOTS = RESUME + 1

# STATUS values.
RUNNING = 0
STOPPED = 1         # an error is waiting in Python
ABORTED = 2         # a legacy packet load went out of bounds: r0 = 0
INTERRUPTED = 3     # a signal handler raised (Ctrl-C): its exception is set in
                    # the thread, so the entry returns NULL (ctypes raises it)

# Codes of the trap callback.
TRAP_RAN_OFF = 1    # execution left the program (pc: where)
TRAP_DEPTH = 2      # call depth exceeded (arg: the depth)
TRAP_LIMIT = 3      # instruction limit exceeded (arg: instructions so far)
TRAP_CHECK = 5      # the count passed CHECK_AT (arg: instructions so far): Python
                    # raises for a limit or the clock, or moves CHECK_AT on
TRAP_BAD_ENTRY = 4  # an entry pc that is not a function (found in Python)

# Each access site caches one region: (first address, accepted offsets, host delta).
SITE_SLOTS = 3
# Each inlined array call: (the map's pointer, its first value's address,
# max_entries, the host address of the per-CPU arrays' first values by CPU
# (u64 each, program addresses), the number of CPUs, the host address of
# the first value).
MAP_SLOTS = 6
# Each cached hash lookup: (the map's pointer, the address of its change
# counter, the host address of the site's table, the table's index mask,
# the host address of its values' bases by CPU (u64 each, program
# addresses), the number of CPUs, the host address of the map's LRU touch
# record (0 for other maps), the value stride, max_entries * the stride).
HASH_SLOTS = 9
# A hash lookup table entry (u64 words): the key, the answer, the change
# counter + 1 when it was filled (0: empty).  The answer is r0 of the lookup
# for a plain hash map, else 0 for a missing key or its value slot + 1.
HASH_ENTRY = 3
# Each native ring buffer call: (the ring's map pointer, the host address of
# its data area, its size, the host address of its RingPositions, the
# program address of its data area).
RING_SLOTS = 5


@dataclass
class Layout:
    """Where one program's tables sit in its runtime block, and what its
    call sites are.

    ``lddw`` maps the pc of each ``lddw`` with a pseudo source (not a
    function) to its slot; ``sites`` lists the pc of each checked memory
    access (its index is the site number); ``helpers`` the pc of each
    helper call that goes to Python (the index is what the callback gets);
    ``maps`` the pc of each ``bpf_map_lookup_elem`` or
    ``bpf_map_update_elem`` call inlined for an array map (its index is
    the call's slots in the block), ``hashes`` of
    each one on a hash map answered from a lookup table when it can.
    """

    lddw: dict[int, int] = field(default_factory=dict)
    sites: list[int] = field(default_factory=list)
    helpers: list[int] = field(default_factory=list)
    maps: list[int] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    #: pc of each ``bpf_map_lookup_elem`` call on a hash map with a lookup cache.
    hashes: list[int] = field(default_factory=list)
    #: pc of each ring buffer helper call with a native path.
    rings: list[int] = field(default_factory=list)
    #: (size, "read" | "write" | "atomic") of each access site.
    site_info: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lddw_base(self) -> int:
        """The first slot of the lddw values."""
        return FIXED_SLOTS

    @property
    def sites_base(self) -> int:
        """The first slot of the access sites' region caches."""
        return FIXED_SLOTS + len(self.lddw)

    @property
    def maps_base(self) -> int:
        """The first slot of the inlined array lookups' facts."""
        return self.sites_base + SITE_SLOTS * len(self.sites)

    @property
    def hashes_base(self) -> int:
        """The first slot of the cached hash lookups' facts."""
        return self.maps_base + MAP_SLOTS * len(self.maps)

    @property
    def rings_base(self) -> int:
        """The first slot of the native ring buffer calls' facts."""
        return self.hashes_base + HASH_SLOTS * len(self.hashes)

    @property
    def slots(self) -> int:
        """The size of the runtime block in 64-bit words."""
        return self.rings_base + RING_SLOTS * len(self.rings)

    def to_data(self) -> dict:
        """Plain data (for the disk cache)."""
        return {"lddw": sorted(self.lddw.items()), "sites": self.sites,
                "helpers": self.helpers, "maps": self.maps, "entries": self.entries,
                "site_info": self.site_info, "hashes": self.hashes, "rings": self.rings}

    @classmethod
    def from_data(cls, data: dict) -> Layout:
        """The inverse of :meth:`to_data`."""
        return cls(lddw=dict(data["lddw"]), sites=list(data["sites"]),
                   helpers=list(data["helpers"]), maps=list(data["maps"]),
                   entries=list(data["entries"]), hashes=list(data["hashes"]),
                   rings=list(data.get("rings", [])),
                   site_info=[tuple(i) for i in data["site_info"]])
