"""``lpm_trie``: longest-prefix-match maps, built as the kernel builds them.

A key is a u32 ``prefixlen`` (host byte order) followed by ``key_size - 4``
bytes of data, most significant bit first.  Lookups (from programs and from
userspace alike) return the value of the longest stored prefix that covers
the key; update and delete work on exact prefixes.  The tree has the
kernel's shape — nodes with two children, intermediate nodes without values
where two prefixes part — so get_next_key visits keys in the kernel's order:
post-order, more specific prefixes before the less specific ones that
contain them.  The kernel requires ``BPF_F_NO_PREALLOC``; so does this.
A full trie refuses new prefixes with ENOSPC.

Threads: every operation walks the tree while others may reshape it, so
each holds the map's lock, programs' lookups included.
"""

from __future__ import annotations

import errno as E
from typing import Any

from ..objects import MapSpec
from ._abi import (
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_NOEXIST,
    KMALLOC_MAX_SIZE,
    LPM_DATA_SIZE_MAX,
    LPM_KEY_HEADER,
    LPM_TRIE_NODE_SIZE,
)
from .base import Map


class _Node:
    __slots__ = ("bits", "child", "data", "intermediate", "offset", "prefixlen")

    def __init__(self, prefixlen: int, data: bytes, intermediate: bool = False,
                 offset: int = -1):
        self.prefixlen = prefixlen
        self.data = data
        self.bits = int.from_bytes(data, "big")
        self.child: list[_Node | None] = [None, None]
        self.intermediate = intermediate
        self.offset = offset


class LpmTrie(Map):
    """``BPF_MAP_TYPE_LPM_TRIE``."""

    type = "lpm_trie"

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """The kernel's trie_alloc checks (all EINVAL)."""
        if not spec.flags & BPF_F_NO_PREALLOC:
            raise cls._create_error(spec, E.EINVAL, "lpm_trie maps need BPF_F_NO_PREALLOC")
        cls._check_sizes(spec, allowed_flags=BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE |
                         BPF_F_ACCESS_MASK)
        if not LPM_KEY_HEADER + 1 <= spec.key_size <= LPM_KEY_HEADER + LPM_DATA_SIZE_MAX:
            raise cls._create_error(spec, E.EINVAL,
                                    f"lpm_trie key_size must be {LPM_KEY_HEADER + 1}.."
                                    f"{LPM_KEY_HEADER + LPM_DATA_SIZE_MAX} (u32 prefixlen "
                                    f"and data), not {spec.key_size}")
        if spec.value_size > KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - LPM_TRIE_NODE_SIZE:
            raise cls._create_error(spec, E.EINVAL, f"value_size {spec.value_size} is too large")

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        self.data_size = self.key_size - LPM_KEY_HEADER
        self.max_prefixlen = self.data_size * 8
        self._new_arena(self.max_entries * self.value_stride)
        self._base = self.arena_addresses[0]
        self.root: _Node | None = None
        self.n_entries = 0
        self._free: list[int] = []
        self._next_offset = 0

    # ------------------------------------------------------------ bits

    def _split(self, key: bytes) -> tuple[int, int]:
        return int.from_bytes(key[:LPM_KEY_HEADER], "little"), \
            int.from_bytes(key[LPM_KEY_HEADER:], "big")

    def _bit(self, bits: int, index: int) -> int:
        return (bits >> (self.max_prefixlen - 1 - index)) & 1

    def _match(self, node: _Node, prefixlen: int, bits: int) -> int:
        limit = min(node.prefixlen, prefixlen)
        diff = node.bits ^ bits
        if not diff:
            return limit
        return min(limit, self.max_prefixlen - diff.bit_length())

    def _key_of(self, node: _Node) -> bytes:
        return node.prefixlen.to_bytes(LPM_KEY_HEADER, "little") + node.data

    def _alloc(self) -> int:
        if self._free:
            return self._free.pop()
        offset = self._next_offset
        self._next_offset += self.value_stride
        return offset

    def _attach(self, owner: _Node | None, side: int, node: _Node | None) -> None:
        if owner is None:
            self.root = node
        else:
            owner.child[side] = node

    # ------------------------------------------------------------ core

    def _find(self, key: bytes) -> _Node | None:
        prefixlen, bits = self._split(key)
        node, found, top = self.root, None, self.max_prefixlen
        while node is not None:
            matchlen = self._match(node, prefixlen, bits)
            if matchlen == top:
                return node
            if matchlen < node.prefixlen:
                break
            if not node.intermediate:
                found = node
            node = node.child[self._bit(bits, node.prefixlen)]
        return found

    def _room(self, flags: int) -> int:
        if flags == BPF_EXIST:
            return -E.ENOENT
        if self.n_entries >= self.max_entries:
            return -E.ENOSPC
        self.n_entries += 1
        return 0

    def _update(self, key: bytes, value: bytes, flags: int) -> int:
        if flags > BPF_EXIST:
            return -E.EINVAL
        prefixlen, bits = self._split(key)
        if prefixlen > self.max_prefixlen:
            return -E.EINVAL
        data = bytes(key[LPM_KEY_HEADER:])
        owner, side = None, 0
        node = self.root
        matchlen = 0
        while node is not None:
            matchlen = self._match(node, prefixlen, bits)
            if node.prefixlen != matchlen or node.prefixlen == prefixlen:
                break
            owner, side = node, self._bit(bits, node.prefixlen)
            node = node.child[side]
        if node is not None and node.prefixlen == matchlen:
            if not node.intermediate:
                if flags == BPF_NOEXIST:
                    return -E.EEXIST
            else:
                err = self._room(flags)
                if err:
                    return err
                node.intermediate = False
                node.offset = self._alloc()
            node.data, node.bits = data, bits
            self._write_value(self.arenas[0], node.offset, value)
            return 0
        err = self._room(flags)
        if err:
            return err
        new = _Node(prefixlen, data, offset=self._alloc())
        self._write_value(self.arenas[0], new.offset, value)
        if node is None:
            self._attach(owner, side, new)
        elif matchlen == prefixlen:
            new.child[self._bit(node.bits, matchlen)] = node
            self._attach(owner, side, new)
        else:
            fork = _Node(matchlen, node.data, intermediate=True)
            if self._bit(bits, matchlen):
                fork.child = [node, new]
            else:
                fork.child = [new, node]
            self._attach(owner, side, fork)
        return 0

    def _delete(self, key: bytes) -> int:
        prefixlen, bits = self._split(key)
        if prefixlen > self.max_prefixlen:
            return -E.EINVAL
        trim: tuple[_Node | None, int] = (None, 0)
        trim_parent = trim
        parent = None
        node = self.root
        matchlen = 0
        while node is not None:
            matchlen = self._match(node, prefixlen, bits)
            if node.prefixlen != matchlen or node.prefixlen == prefixlen:
                break
            parent = node
            trim_parent = trim
            trim = (node, self._bit(bits, node.prefixlen))
            node = node.child[trim[1]]
        if node is None or node.prefixlen != prefixlen or node.prefixlen != matchlen or \
                node.intermediate:
            return -E.ENOENT
        self.n_entries -= 1
        self._free.append(node.offset)
        left, right = node.child
        if left is not None and right is not None:
            node.intermediate = True
            node.offset = -1
            return 0
        if parent is not None and parent.intermediate and left is None and right is None:
            sibling = parent.child[1] if parent.child[0] is node else parent.child[0]
            self._attach(*trim_parent, sibling)
            return 0
        self._attach(*trim, left if left is not None else right)
        return 0

    @staticmethod
    def _leftmost(node: _Node | None) -> _Node | None:
        found = None
        while node is not None:
            if node.intermediate:
                node = node.child[0]
            else:
                found = node
                node = node.child[0] if node.child[0] is not None else node.child[1]
        return found

    def _next_node(self, key: bytes | None) -> _Node | None:
        root = self.root
        if root is None:
            return None
        if key is None:
            return self._leftmost(root)
        prefixlen, bits = self._split(key)
        if prefixlen > self.max_prefixlen:
            return self._leftmost(root)
        stack: list[_Node] = []
        node: _Node | None = root
        matchlen = 0
        while node is not None:
            stack.append(node)
            matchlen = self._match(node, prefixlen, bits)
            if node.prefixlen != matchlen or node.prefixlen == prefixlen:
                break
            node = node.child[self._bit(bits, node.prefixlen)]
        if node is None or node.prefixlen != matchlen or node.intermediate:
            return self._leftmost(root)
        node = stack.pop()
        while stack:
            parent = stack.pop()
            if parent.child[0] is node and parent.child[1] is not None:
                return self._leftmost(parent.child[1])
            if not parent.intermediate:
                return parent
            node = parent
        return None

    # ------------------------------------------------------------ userspace

    def _sys_lookup(self, key: bytes, flags: int) -> bytes:
        node = self._find(key)
        if node is None:
            raise self._error(E.ENOENT, "lookup", key, "no prefix matches")
        return self._read_value(self.arenas[0], node.offset)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self._update(key, value, flags)

    def _update_message(self, code: int, flags: int) -> str:
        if code == E.ENOSPC:
            return f"the trie is full ({self.max_entries} prefixes)"
        if code == E.EINVAL:
            return f"flags {flags:#x} or a prefixlen over {self.max_prefixlen}"
        return super()._update_message(code, flags)

    def _sys_delete(self, key: bytes) -> int:
        return self._delete(key)

    def _next_key(self, key: bytes | None) -> bytes | None:
        node = self._next_node(key)
        return None if node is None else self._key_of(node)

    def _count(self) -> int:
        return self.n_entries

    def _has(self, key: bytes) -> bool:
        """Whether a lookup of ``key`` finds a prefix (longest-prefix match)."""
        return self._find(key) is not None

    def _raw_items(self) -> list[tuple[bytes, Any]]:
        out = []
        node = self._next_node(None)
        while node is not None:
            key = self._key_of(node)
            out.append((key, self._read_value(self.arenas[0], node.offset)))
            node = self._next_node(key)
        return out

    def _has_batch(self, which: str) -> bool:
        return which in ("lookup", "update", "delete")

    def key(self, prefixlen: int, data: bytes | bytearray) -> bytes:
        """A key from a prefix length and its data (padded to the data size)."""
        return prefixlen.to_bytes(LPM_KEY_HEADER, "little") + \
            bytes(data).ljust(self.data_size, b"\0")[:self.data_size]

    # ------------------------------------------------------------ BPF side

    def bpf_lookup(self, key: bytes, cpu: int = 0) -> int:
        """The address of the longest matching prefix's value, or 0."""
        with self.lock:
            node = self._find(key)
            return 0 if node is None else self._base + node.offset

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """Insert or replace a prefix: 0, -EINVAL, -EEXIST, -ENOENT or -ENOSPC."""
        with self.lock:
            return self._update(key, value, flags)

    def bpf_delete(self, key: bytes, cpu: int = 0) -> int:
        """Remove an exact prefix: 0, -EINVAL or -ENOENT."""
        with self.lock:
            return self._delete(key)
