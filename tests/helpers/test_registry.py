"""HelperRegistry's id -> function table (what a VM binds to each program it loads)."""

from __future__ import annotations

import pytest

from pybpf.helpers import HelperRegistry


def _fn(value):
    def helper(ctx, *args):
        return value
    return helper


def test_functions_follow_adds_in_the_registry_and_its_parents():
    f1, f2, f3, g1 = _fn(1), _fn(2), _fn(3), _fn(4)
    parent = HelperRegistry()
    parent.add(1, f1)
    child = parent.child()
    child.add(2, f2)
    table = child.functions()
    assert dict(table) == {1: f1, 2: f2}
    assert child.functions() is table                  # nothing added: the same table
    parent.add(3, f3)
    child.add(1, g1)                                   # the child's own wins
    assert dict(child.functions()) == {1: g1, 2: f2, 3: f3}
    assert dict(child.functions()) == {entry.id: entry.fn for entry in child}
    assert dict(table) == {1: f1, 2: f2}               # a table given out stays as it was
    with pytest.raises(TypeError):
        table[5] = f1                                  # read-only


def test_a_new_parent_is_seen():
    a, b = HelperRegistry(), HelperRegistry()
    a.add(1, _fn(1))
    b.add(2, _fn(2))
    child = HelperRegistry(a)
    assert set(child.functions()) == {1}
    child.parent = b
    assert set(child.functions()) == {2}
