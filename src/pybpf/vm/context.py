"""Program contexts: the struct ``r1`` points at, as the kernel presents it.

The kernel rewrites every access to a context struct such as ``__sk_buff``
or ``xdp_md`` into an access to its own objects, so a field reads what the
kernel would give (``data`` yields a full 64-bit packet pointer from a
32-bit field) and only some fields may be written.  A :class:`StructContext`
does the same for the VM: it is a region whose loads and stores go through
the struct's layout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import VMError
from ..spec import struct_layout
from .memory import AddressSpace, Region


class ContextAccessError(VMError):
    """A load or store the kernel's context rules forbid."""


class StructContext:
    """A context struct mapped into the address space.

    ``values`` holds the plain fields' bytes (the layout's size); ``computed``
    gives fields whose value is produced on each load (packet pointers);
    ``writable`` names the fields a program may store to.  ``storage`` gives
    the size of the kernel's own field behind a wider context field (the u16
    ``sk_buff.protocol`` behind the u32 ``__sk_buff.protocol``): stores keep
    that many bytes, and a narrow load at least that wide returns the whole
    value, at any offset, as the kernel's rewrite does.  ``store_filters``
    map a stored value to the one kept, or None to keep the old one.
    """

    def __init__(self, struct: str, values: bytes | bytearray | None = None, *,
                 computed: dict[str, Callable[[], int]] | None = None,
                 writable: Iterable[str] = (), storage: dict[str, int] | None = None,
                 store_filters: dict[str, Callable[[int], int | None]] | None = None):
        self.struct = struct
        self.layout = struct_layout(struct)
        self.bytes = bytearray(self.layout.size)
        if values:
            self.bytes[:len(values)] = values[:self.layout.size]
        self.computed = dict(computed or {})
        self.writable = set(writable)
        self.storage = dict(storage or {})
        self.store_filters = dict(store_filters or {})
        self._field_at: list[object | None] = [None] * self.layout.size
        for field in self.layout:
            if field.is_bitfield:
                continue
            for i in range(field.offset, field.offset + field.size):
                current = self._field_at[i]
                # The innermost (smallest) field wins where unions overlap.
                if current is None or field.size < current.size:  # type: ignore[attr-defined]
                    self._field_at[i] = field
        self.region: Region | None = None

    def field_value(self, name: str) -> int:
        """The current value of a plain field (unsigned, little-endian)."""
        f = self.layout.field(name)
        return int.from_bytes(self.bytes[f.offset:f.offset + f.size], "little")

    def set_field(self, name: str, value: int | bytes) -> None:
        """Set a plain field's bytes (before or after a run)."""
        f = self.layout.field(name)
        data = value if isinstance(value, bytes) else (value & ((1 << (8 * f.size)) - 1)
                                                      ).to_bytes(f.size, "little")
        self.bytes[f.offset:f.offset + f.size] = data[:f.size].ljust(f.size, b"\0")

    # --- SpecialAccess ------------------------------------------------------------

    def _field(self, offset: int, size: int):
        field = self._field_at[offset] if 0 <= offset < len(self._field_at) else None
        if field is None or offset + size > field.offset + field.size:  # type: ignore[attr-defined]
            raise ContextAccessError(f"invalid bpf_context access off={offset} size={size} "
                                     f"(struct {self.struct})")
        return field

    def load(self, offset: int, size: int, signed: bool) -> int:
        """What the kernel's rewritten load of this field returns."""
        field = self._field(offset, size)
        compute = self.computed.get(field.name)  # type: ignore[attr-defined]
        if compute is not None:
            value = compute()
            shift = 8 * (offset - field.offset)  # type: ignore[attr-defined]
            if shift == 0 and size >= 4:
                return value  # pointer fields yield the whole pointer
            return (value >> shift) & ((1 << (8 * size)) - 1)
        kernel_size = self.storage.get(field.name)  # type: ignore[attr-defined]
        if kernel_size is not None:
            start = field.offset  # type: ignore[attr-defined]
            whole = int.from_bytes(self.bytes[start:start + kernel_size], "little")
            if size >= kernel_size:
                return whole
            return (whole >> (8 * (offset - start))) & ((1 << (8 * size)) - 1)
        value = int.from_bytes(self.bytes[offset:offset + size], "little", signed=signed)
        return value

    def store(self, offset: int, size: int, value: int) -> None:
        """A store to a writable field; any other store is refused."""
        field = self._field(offset, size)
        name = field.name  # type: ignore[attr-defined]
        if name not in self.writable:
            raise ContextAccessError(f"write to read-only context field {self.struct}.{name} "
                                     f"(off={offset} size={size})")
        keep = self.store_filters.get(name)
        if keep is not None:
            kept = keep(value)
            if kept is None:
                return
            value = kept
        kernel_size = self.storage.get(name)
        if kernel_size is not None:
            value &= (1 << (8 * kernel_size)) - 1
        self.bytes[offset:offset + size] = value.to_bytes(size, "little")

    # --- mapping ----------------------------------------------------------------------

    def map(self, space: AddressSpace) -> Region:
        """Map the context; returns its region (its start is the ctx pointer)."""
        region = Region(f"ctx {self.struct}", self.bytes, kind="ctx")
        region.special = self
        self.region = space.map(region)
        return region


def plain_context(space: AddressSpace, data: bytes, *, name: str = "ctx",
                  writable: bool = False) -> Region:
    """A context that is plain memory (a tracepoint record, an args array);
    ``data`` must not be empty."""
    return space.map(Region(name, bytearray(data), kind="ctx", writable=writable))
