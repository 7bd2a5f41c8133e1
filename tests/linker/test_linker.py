"""The link step below both backends: symbolic map references, externs and
kconfig through a resolver, CO-RE against a given target, fill order, the
plain-data form and splice()."""

from __future__ import annotations

import marshal

import pytest

import pybpf.vm
from pybpf.btf import BTFBuilder, CoreRelo
from pybpf.btf.core import RelocKind, is_poison
from pybpf.errors import CoreRelocationError, LoadError, ObjectError
from pybpf.isa import Insn, assemble, encode
from pybpf.isa.opcodes import (
    PSEUDO_BTF_ID,
    PSEUDO_CALL_KFUNC,
    PSEUDO_FUNC,
    PSEUDO_IMM,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_VALUE,
)
from pybpf.linker import (
    CorePoison,
    LinkedObject,
    LinkedProgram,
    MapRef,
    NoKernel,
    btf_with_strings,
    link,
)
from pybpf.objects import (
    Extern,
    ExternReference,
    MapReference,
    MapSpec,
    ObjectSpec,
    ProgramSpec,
)

MOV_R0_0 = Insn(0xB7, 0, 0, 0, 0)


def _prog(text: str, **fields) -> ProgramSpec:
    return ProgramSpec.from_assembly("p", text, **fields)


class FakeKernel:
    """A resolver that knows a few symbols (and counts what it was asked)."""

    describe = "the fake kernel"
    has_kernel_btf = True

    def __init__(self, btf_ids=None, addresses=None, config=None):
        self.btf_ids = btf_ids or {}
        self.addresses = addresses or {}
        self.config = config or {}
        self.asked: list[str] = []

    def kernel_btf_id(self, name, kind=None):
        self.asked.append(name)
        found = self.btf_ids.get(name)
        if found is None or (kind is not None and found[1] != kind):
            return None
        return found[0]

    def kernel_symbol_address(self, name):
        self.asked.append(name)
        return self.addresses.get(name)

    def kconfig(self, extern, btf):
        self.asked.append(extern.name)
        return self.config.get(extern.name)


# --- map references --------------------------------------------------------------------

def test_map_loads_become_symbolic_references():
    prog = _prog("r1 = 0 ll\nr2 = map[idx:1][0]+12 ll\nr3 = map[idx:0] ll\nr0 = 0\nexit",
                 map_references=[MapReference(0, "b", value=True, offset=4)])
    spec = ObjectSpec.build([prog], [MapSpec("a", "array"), MapSpec("b", "array", 4, 16)])
    lp = link(spec).programs["p"]
    assert dict(lp.map_refs) == {0: MapRef("b", True, 4), 2: MapRef("b", True, 12),
                                 4: MapRef("a", False, 0)}
    insns = lp.insns
    assert (insns[0].src, insns[0].imm, insns[1].imm) == (PSEUDO_MAP_VALUE, 0, 4)
    assert (insns[2].src, insns[2].imm, insns[3].imm) == (PSEUDO_MAP_VALUE, 0, 12)
    assert (insns[4].src, insns[4].imm, insns[5].imm) == (PSEUDO_MAP_FD, 0, 0)
    fds = {"a": 7, "b": 9}
    patched = lp.with_map_values(lambda ref: fds[ref.map])
    assert [patched[pc].imm for pc in (0, 2, 4)] == [9, 9, 7]
    assert lp.insns[0].imm == 0  # the linked program is left as it was


def test_bad_map_references_name_program_and_instruction():
    spec = ObjectSpec.build([_prog("r1 = 0 ll\nexit", map_references=[MapReference(0, "nope")])],
                            [MapSpec("x", "array")])
    with pytest.raises(LoadError, match=r"program p, insn 0 \(.*\): map reference refers to "
                                        r"map 'nope', which the object does not have") as info:
        link(spec)
    assert (info.value.program, info.value.pc) == ("p", 0)
    spec = ObjectSpec.build([_prog("r0 = 0\nexit", map_references=[MapReference(0, "x")])],
                            [MapSpec("x", "array")])
    with pytest.raises(LoadError, match="map reference is not on an lddw"):
        link(spec)
    spec = ObjectSpec.build([_prog("r1 = map[idx:3] ll\nexit")], [MapSpec("x", "array")])
    with pytest.raises(LoadError, match=r"map\[idx:3\] is out of range: the object has 1 maps"):
        link(spec)


def test_the_vm_reports_link_errors_in_the_same_words():
    spec = ObjectSpec.build([_prog("r1 = 0 ll\nexit", map_references=[MapReference(0, "nope")])],
                            [MapSpec("x", "array")])
    with pytest.raises(LoadError) as linked:
        link(spec)
    with pytest.raises(LoadError) as vm:
        pybpf.vm.load(spec)
    assert str(vm.value) == str(linked.value)


# --- externs ---------------------------------------------------------------------------

def _extern_spec(weak: bool) -> ObjectSpec:
    prog = _prog("call kfunc[id:0]\nr1 = 0 ll\nr2 = 0 ll\nexit",
                 extern_references=[ExternReference(0, "kf", "kfunc"),
                                    ExternReference(1, "typed_var", "ksym"),
                                    ExternReference(3, "plain_sym", "ksym")])
    typed = BTFBuilder()
    typed.add_int("int", 4)
    int_type = typed.build()[1]
    return ObjectSpec(programs={"p": prog}, externs={
        "kf": Extern("kf", "kfunc", weak), "typed_var": Extern("typed_var", "ksym", weak, int_type),
        "plain_sym": Extern("plain_sym", "ksym", weak)})


def test_without_a_kernel_weak_externs_read_as_zero():
    lp = link(_extern_spec(weak=True), NoKernel()).programs["p"]
    assert lp.insns[0] == MOV_R0_0
    for pc in (1, 3):
        assert (lp.insns[pc].src, lp.insns[pc].imm, lp.insns[pc + 1].imm) == (PSEUDO_IMM, 0, 0)
    result = pybpf.vm.load(_extern_spec(weak=True)).programs["p"].test_run(bytes(64))
    assert result.retval == 0


def test_without_a_kernel_strong_externs_do_not_load():
    with pytest.raises(LoadError, match=r"program p, insn 0 .*calls kfunc 'kf', which the "
                                        r"userspace VM does not have"):
        link(_extern_spec(weak=False), NoKernel())
    spec = _extern_spec(weak=False)
    spec.externs["kf"].weak = True
    with pytest.raises(LoadError, match=r"insn 1 .*loads ksym 'typed_var', which the userspace "
                                        r"VM does not export"):
        pybpf.vm.load(spec)


def test_externs_resolve_through_the_resolver():
    kernel = FakeKernel(btf_ids={"kf": (77, "FUNC"), "typed_var": (88, "VAR")},
                        addresses={"plain_sym": 0xFFFF_FFFF_8100_0010})
    linked = link(_extern_spec(weak=False), kernel)
    insns = linked.programs["p"].insns
    assert (insns[0].src, insns[0].imm) == (PSEUDO_CALL_KFUNC, 77)
    assert (insns[1].src, insns[1].imm) == (PSEUDO_BTF_ID, 88)
    value = (insns[3].imm & 0xFFFFFFFF) | (insns[4].imm & 0xFFFFFFFF) << 32
    assert insns[3].src == PSEUDO_IMM and value == 0xFFFF_FFFF_8100_0010
    assert linked.boot_dependent  # a kallsyms address: valid for this boot only
    assert not link(_extern_spec(weak=True), FakeKernel()).boot_dependent


def _kfunc_spec(params: list[str], returns: str, *, weak: bool = False,
                load_address: bool = False) -> ObjectSpec:
    """A program calling (or, with ``load_address``, taking the address of)
    kfunc ``kf`` declared with ``params`` and ``returns`` (``int``,
    ``ptr``, ``void``)."""
    b = BTFBuilder()
    ids = {"int": b.add_int("int", 4, signed=True), "void": 0}
    ids["ptr"] = b.add_ptr(ids["int"])
    proto = b.add_func_proto(ids[returns], [(f"a{i}", ids[p]) for i, p in enumerate(params)])
    func_id = b.add_func("kf", proto, linkage=2)
    btf = b.build()
    func = btf[func_id]
    text = "r1 = 0 ll\nr0 = r1\nexit" if load_address else "call kfunc[id:0]\nexit"
    prog = ProgramSpec("p", assemble(text, "llvm"),
                       extern_references=[ExternReference(0, "kf", "kfunc")])
    spec = ObjectSpec(programs={"p": prog}, externs={"kf": Extern("kf", "kfunc", weak, func)})
    spec.btf = btf
    return spec


class KernelWithTypes(FakeKernel):
    """A fake kernel whose BTF declares ``int *kf(int a)``."""

    def __init__(self):
        b = BTFBuilder()
        i = b.add_int("int", 4, signed=True)
        proto = b.add_func_proto(b.add_ptr(i), [("a", i)])
        super().__init__(btf_ids={"kf": (b.add_func("kf", proto), "FUNC")})
        self.types = b.build()

    def kernel_btf(self):
        return self.types


def test_kfunc_prototypes_are_checked_against_the_kernel():
    kernel = KernelWithTypes()
    kf_id = kernel.btf_ids["kf"][0]
    lp = link(_kfunc_spec(["int"], "ptr"), kernel).programs["p"]
    assert (lp.insns[0].src, lp.insns[0].imm) == (PSEUDO_CALL_KFUNC, kf_id)
    assert link(_kfunc_spec(["int"], "void"), kernel)  # the result may be ignored
    for params, returns, why in (
            (["int", "int"], "ptr", "the object declares 2 arguments, this kernel's takes 1: "
                                    "int [*]kf[(]int a[)]"),
            (["ptr"], "ptr", "argument 1 is declared a pointer, this kernel's is an integer"),
            (["int"], "int", "it is declared to return an integer, this kernel's returns a "
                             "pointer")):
        with pytest.raises(LoadError, match=r"program p, insn 0 \(call kfunc.*\): kfunc 'kf' "
                                            r"does not match the fake kernel's prototype: "
                                            + why):
            link(_kfunc_spec(params, returns), kernel)
        weak = link(_kfunc_spec(params, returns, weak=True), kernel).programs["p"]
        assert weak.insns[0] == MOV_R0_0  # a weak kfunc of another shape: absent


def test_a_kfunc_address_load_becomes_its_btf_id_or_zero():
    kernel = KernelWithTypes()
    lp = link(_kfunc_spec(["int"], "ptr", load_address=True), kernel).programs["p"]
    assert (lp.insns[0].src, lp.insns[0].imm, lp.insns[1].imm) == \
        (PSEUDO_BTF_ID, kernel.btf_ids["kf"][0], 0)
    weak = _kfunc_spec(["int"], "ptr", weak=True, load_address=True)
    lp = link(weak, NoKernel()).programs["p"]
    assert (lp.insns[0].src, lp.insns[0].imm, lp.insns[1].imm) == (PSEUDO_IMM, 0, 0)
    assert pybpf.vm.load(weak).programs["p"].test_run(bytes(64)).retval == 0
    with pytest.raises(LoadError, match="loads the address of kfunc 'kf', which the "
                                        "userspace VM does not have"):
        link(_kfunc_spec(["int"], "ptr", load_address=True), NoKernel())


def test_attach_btf_ids_come_from_the_resolver():
    spec = ObjectSpec.build([_prog("r0 = 0\nexit", type="tracing", attach_type="trace_fentry",
                                   attach_to="do_exit")])
    assert link(spec, FakeKernel({"do_exit": (5, "FUNC")})).programs["p"].attach_btf_id == 5
    with pytest.raises(LoadError, match="the fake kernel's BTF has no 'do_exit' to attach to"):
        link(spec, FakeKernel())
    assert link(spec, NoKernel()).programs["p"].attach_btf_id == 0  # the VM attaches nothing
    raw_tp = ObjectSpec.build([_prog("r0 = 0\nexit", type="tracing", attach_to="sched_switch")])
    assert link(raw_tp, FakeKernel({"btf_trace_sched_switch": (9, "TYPEDEF")})
                ).programs["p"].attach_btf_id == 9


# --- kconfig ---------------------------------------------------------------------------

def _kconfig_spec() -> ObjectSpec:
    spec = ObjectSpec(maps={".kconfig": MapSpec(".kconfig", "array", 4, 8, 1,
                                                contents=[(0, bytes(8))], freeze=True)})
    spec.externs = {"CONFIG_A": Extern("CONFIG_A", "kconfig", False, None, 0, 0, 4),
                    "CONFIG_B": Extern("CONFIG_B", "kconfig", True, None, 0, 4, 4)}
    spec.variables = {"CONFIG_A": (".kconfig", 0, 4, None), "CONFIG_B": (".kconfig", 4, 4, None)}
    return spec


def test_kconfig_values_come_from_the_resolver_unless_given():
    kernel = FakeKernel(config={"CONFIG_A": b"\x01\x00\x00\x00"})
    linked = link(_kconfig_spec(), kernel)
    assert linked.maps[".kconfig"].contents == [(0, b"\x01\0\0\0" + bytes(4))]  # B: weak, zero
    spec = _kconfig_spec()
    spec.set_variable("CONFIG_A", 5)
    kernel.asked.clear()
    assert link(spec, kernel).maps[".kconfig"].contents[0][1][:4] == b"\x05\0\0\0"
    assert "CONFIG_A" not in kernel.asked  # a value given by hand wins
    assert spec.maps[".kconfig"].contents[0][1][:4] == b"\x05\0\0\0"
    with pytest.raises(LoadError, match="kconfig extern CONFIG_A has no value in the userspace"):
        link(_kconfig_spec(), NoKernel())


# --- CO-RE -----------------------------------------------------------------------------

def _core_spec(access: str, kind: RelocKind = RelocKind.FIELD_BYTE_OFFSET) -> tuple:
    local = BTFBuilder()
    i32 = local.add_int("int", 4, signed=True)
    task = local.add_struct("task", 8, [("pid", i32, 0), ("gone", i32, 32)])
    target = BTFBuilder()
    t_i32 = target.add_int("int", 4, signed=True)
    target.add_struct("task", 16, [("state", t_i32, 0), ("pid", t_i32, 64)])
    prog = _prog("r0 = *(u32 *)(r1 + 0)\nr0 = 0\nexit",
                 core_relocations=[CoreRelo(0, task, access, int(kind))])
    spec = ObjectSpec.build([prog])
    spec.btf = local.build()
    return spec, target.build()


def test_core_relocations_against_the_given_target():
    spec, target = _core_spec("0:0")
    calls = []

    def lazy():
        calls.append(1)
        return target

    lp = link(spec, core_target=lazy).programs["p"]
    assert lp.insns[0].off == 8 and calls == [1]
    plain = ObjectSpec.build([_prog("r0 = 0\nexit")])
    link(plain, core_target=lazy)
    assert calls == [1]  # no relocations: the target is not loaded
    missing, target = _core_spec("0:1")  # "gone" is not in the target: poisoned, as libbpf
    assert is_poison(link(missing, core_target=target).programs["p"].insns[0])


def test_poisoned_relocations_are_recorded_and_travel_with_their_instruction():
    spec, target = _core_spec("0:1")  # "gone" is in no target struct task
    lp = link(spec, core_target=target).programs["p"]
    assert dict(lp.core_poisons) == {0: CorePoison(
        "byte_off", "task", "0:1", "[2] struct task.gone (0:1)",
        "no struct task of the target BTF has gone")}
    again = LinkedProgram.from_data(marshal.loads(marshal.dumps(lp.to_data())))
    assert again.core_poisons == lp.core_poisons
    lp.splice([(0, 0, [MOV_R0_0, MOV_R0_0])])
    assert list(lp.core_poisons) == [2] and is_poison(lp.insns[2])
    lp.splice([(2, 1, [MOV_R0_0])])
    assert not lp.core_poisons
    assert not link(_core_spec("0:0")[0], core_target=target).programs["p"].core_poisons
    other = BTFBuilder()
    other.add_int("int", 4, signed=True)
    lp = link(spec, core_target=other.build()).programs["p"]
    assert lp.core_poisons[0].reason == "the target BTF has no struct task"


def test_unresolvable_core_relocations_are_load_errors_not_corrupt_objects():
    spec, target = _core_spec("0:7")  # no member 7
    with pytest.raises(CoreRelocationError) as info:
        link(spec, core_target=target)
    err = info.value
    assert not isinstance(err, ObjectError)
    assert (err.program, err.pc, err.kind, err.type_name, err.access) == \
        ("p", 0, RelocKind.FIELD_BYTE_OFFSET.label, "task", "0:7")
    assert "program p, insn 0" in str(err)
    with pytest.raises(CoreRelocationError):
        pybpf.vm.load(spec, core_target=target)
    bad_insn, target = _core_spec("0:0")
    bad_insn.programs["p"].instructions[0] = Insn(0xB7, 0, 0, 0, 3)  # r0 = 3, not offset 0
    with pytest.raises(CoreRelocationError, match="expected immediate 0, found 3"):
        link(bad_insn, core_target=target)


# --- autoload and skip_failed --------------------------------------------------------------

def test_programs_without_autoload_are_left_out():
    off = _prog("r0 = 1\nexit")
    off.name, off.autoload = "off", False
    on = _prog("r0 = 2\nexit")
    jumps = MapSpec("jumps", "prog_array", 4, 4, 2, contents=[(0, "p"), (1, "off")])
    spec = ObjectSpec.build([on, off], [jumps])
    linked = link(spec)
    assert list(linked.programs) == ["p"] and linked.failed == {}
    assert linked.maps["jumps"].contents == [(0, "p")]   # the slot of a program left out
    coll = pybpf.vm.load(spec)
    assert list(coll.programs) == ["p"] and coll.programs["p"].test_run(bytes(64)).retval == 2


def test_skip_failed_keeps_the_link_errors_by_program():
    bad = _prog("r1 = 0 ll\nexit", map_references=[MapReference(0, "nope")])
    bad.name = "bad"
    spec = ObjectSpec.build([bad, _prog("r0 = 0\nexit")])
    with pytest.raises(LoadError, match="program bad"):
        link(spec)
    linked = link(spec, skip_failed=True)
    assert list(linked.programs) == ["p"]
    assert isinstance(linked.failed["bad"], LoadError) and "'nope'" in str(linked.failed["bad"])


# --- fill order ------------------------------------------------------------------------

def test_fill_order_puts_maps_before_programs_and_prog_arrays_after():
    maps = [MapSpec("outer", "array_of_maps", 4, 4, 1, inner=MapSpec("t", "array"),
                    contents=[(0, "inner")]),
            MapSpec("jumps", "prog_array", 4, 4, 2, contents=[(0, "p")]),
            MapSpec(".rodata", "array", 4, 4, 1, freeze=True, contents=[(0, bytes(4))]),
            MapSpec("inner", "array")]
    linked = link(ObjectSpec.build([_prog("r0 = 0\nexit")], maps))
    assert linked.fill_before == ["inner", "outer", ".rodata"]
    assert linked.fill_after == ["jumps"]
    maps[1].contents = [(0, "nope")]
    with pytest.raises(LoadError, match="element 0 names program 'nope'"):
        link(ObjectSpec.build([_prog("r0 = 0\nexit")], maps))


def test_vm_fills_maps_of_maps_and_prog_arrays_by_name():
    prog = _prog("r2 = map[idx:0] ll\nr3 = 0\ncall 12\nr0 = 9\nexit", type="xdp")
    target = ProgramSpec.from_assembly("t", "r0 = 2\nexit", type="xdp")
    spec = ObjectSpec.build([prog, target], [
        MapSpec("jumps", "prog_array", 4, 4, 1, contents=[(0, "t")]),
        MapSpec("outer", "array_of_maps", 4, 4, 1, inner=MapSpec("t", "array"),
                contents=[(0, "inner")]),
        MapSpec("inner", "array")])
    with pybpf.vm.load(spec) as coll:
        assert coll.programs["p"].test_run(bytes(64)).retval == 2  # the tail call
        assert coll.maps["outer"][0] is coll.maps["inner"]


# --- plain data ------------------------------------------------------------------------

def test_linked_objects_round_trip_through_marshal():
    prog = _prog("r1 = map[idx:0] ll\nr0 = 1\nexit", type="xdp")
    spec = ObjectSpec.build([prog], [MapSpec("m", "array", 4, 8, 1, contents=[(0, bytes(8))])])
    spec.variables = {"knob": ("m", 4, 4, None)}
    linked = link(spec)
    data = marshal.loads(marshal.dumps(linked.to_data()))
    again = LinkedObject.from_data(data)
    assert again.programs["p"].insns == linked.programs["p"].insns
    assert dict(again.programs["p"].map_refs) == dict(linked.programs["p"].map_refs)
    assert again.maps == linked.maps and again.fill_before == ["m"]
    again.set_variable("knob", 3)
    assert again.maps["m"].contents == [(0, bytes(4) + b"\x03\0\0\0")]
    assert linked.maps["m"].contents == [(0, bytes(8))]
    data["format"] = 0
    with pytest.raises(LoadError, match="link the object again"):
        LinkedObject.from_data(data)
    typed = ObjectSpec.build([], [MapSpec("s", "hash", 4, 8, 1, contents=[(1, {"a": 1})])])
    with pytest.raises(LoadError, match="map 's': an initial element of type dict"):
        link(typed).to_data()


# --- splice ----------------------------------------------------------------------------

LOOP = """
    r0 = 0
    r1 = 5
loop:
    r0 += r1
    r1 -= 1
    if r1 != 0 goto loop
    call sub
    r2 = 0 ll
    exit
sub:
    r0 += 100
    exit
"""


def _loop_program() -> LinkedProgram:
    insns = assemble(LOOP, "llvm")
    return LinkedProgram("loop", insns, {6: MapRef("m")}, type="memory",
                         func_info=[(0, 1), (9, 2)], line_info=[(0, 1, 2, 3), (4, 1, 2, 4),
                                                                (9, 1, 2, 5)])


def _run(insns) -> int:
    vm = pybpf.vm.VM()
    return vm.load(list(insns), resolve_pseudo=lambda *a: 0).run().r0


def test_splice_keeps_jumps_calls_and_references_in_place():
    lp = _loop_program()
    before = _run(lp.insns)
    assert before == 15 + 100
    nop = Insn(0xBF, 9, 9)  # r9 = r9
    lp.splice([(2, 0, [nop, nop]),     # before the loop head: branches land on the nops
               (4, 0, [nop]),          # before the conditional jump
               (9, 0, [nop, nop, nop])])  # at the subprogram's entry
    assert len(lp) == 11 + 6
    assert _run(lp.insns) == before
    assert dict(lp.map_refs) == {9: MapRef("m")}
    assert lp.func_info == ((0, 1), (12, 2))
    assert [r[0] for r in lp.line_info] == [0, 6, 12]


def test_splice_replaces_and_removes_with_their_references():
    lp = _loop_program()
    # replace "r0 += r1" by "r0 += r1; r0 += r1" and drop the map load
    lp.splice([(2, 1, [Insn(0x0F, 0, 1), Insn(0x0F, 0, 1)]),
               (6, 2, [Insn(0xB7, 2, 0, 0, 0)])])
    assert _run(lp.insns) == 30 + 100
    assert dict(lp.map_refs) == {}
    new_ref = LinkedProgram("x", assemble("r0 = 1\nexit"))
    new_ref.splice([(1, 0, [*Insn.lddw(1, 0, PSEUDO_MAP_FD)], {0: MapRef("m")})])
    assert dict(new_ref.map_refs) == {1: MapRef("m")} and new_ref.insns[1].is_lddw


def test_splice_refuses_edits_that_break_the_program():
    lp = _loop_program()
    with pytest.raises(LoadError, match="a branch targets slot 2, which an edit removes"):
        lp.splice([(1, 2, [Insn(0xB7, 1, 0, 0, 5)])])
    with pytest.raises(LoadError, match="cuts an lddw in half"):
        lp.splice([(7, 1, [])])
    with pytest.raises(LoadError, match="overlap"):
        lp.splice([(0, 2, []), (1, 0, [])])
    assert _run(lp.insns) == 115  # nothing was changed by the refused edits


def test_splice_moves_gotol_and_subprogram_address_targets():
    # 0: gotol +1 (to 2)   1: r0 = 1   2-3: r1 = &sub   4: r0 = 3   5: exit   6: sub: exit
    insns = [Insn(0x06, 0, 0, 0, 1), Insn(0xB7, 0, 0, 0, 1),
             *Insn.lddw(1, 3, PSEUDO_FUNC), Insn(0xB7, 0, 0, 0, 3), Insn(0x95), Insn(0x95)]
    lp = LinkedProgram("g", insns)
    lp.splice([(1, 0, [Insn(0xBF, 9, 9)]), (6, 0, [Insn(0xBF, 9, 9)] * 2)])
    assert lp.insns[0].imm == 2                  # gotol still lands on the lddw
    assert 3 + 1 + lp.insns[3].imm == 7          # the subprogram's entry: its inserted slots
    assert _run(lp.insns) == 3


def test_bytecode_and_instructions_agree():
    prog = _prog("r1 = map[idx:0] ll\nr2 = map[idx:0][0]+8 ll\nr0 = 1\nexit")
    lp = link(ObjectSpec.build([prog], [MapSpec("m", "array", 4, 16)])).programs["p"]
    from_insns = lp.bytecode(lambda ref: 42)
    again = LinkedProgram.from_data(lp.to_data())  # holds bytecode until asked for slots
    assert again.bytecode(lambda ref: 42) == from_insns == encode(lp.with_map_values(lambda r: 42))
    assert again.insns == lp.insns and len(again) == len(lp) == 6


@pytest.mark.kernel
def test_both_backends_word_link_errors_the_same():
    import pybpf.kernel

    spec = ObjectSpec.build([_prog("r1 = 0 ll\nexit", map_references=[MapReference(0, "nope")])],
                            [MapSpec("x", "array")])
    errors = []
    for load in (pybpf.vm.load, pybpf.kernel.load):
        with pytest.raises(LoadError) as info:
            load(spec)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_btf_with_strings_adds_what_line_info_needs_once():
    b = BTFBuilder()
    int_id = b.add_int("int", 4)
    btf = b.build()
    final, offsets = btf_with_strings(btf, {"prog.c", "return 0;"})
    assert final is not btf and final[int_id].name == "int"
    assert final.string_at(offsets["prog.c"]) == "prog.c"
    again, _ = btf_with_strings(btf, {"return 0;", "prog.c"})
    assert again is final  # built once per BTF
    same, _ = btf_with_strings(btf, {"int"})
    assert same is btf  # nothing to add
