"""Shared by the trace tests: skipping where tracefs cannot be read."""

from __future__ import annotations

import os

import pytest


def tracefs_reason() -> str | None:
    """Why tracepoint formats cannot be read here (None when they can)."""
    try:
        from pybpf.trace.tracefs import event_format

        if event_format("syscalls", "sys_enter_openat") is None:
            return "tracefs has no syscalls:sys_enter_openat format"
    except Exception as e:
        return f"tracefs cannot be read: {e}"
    return None


needs_tracefs = pytest.mark.skipif(tracefs_reason() is not None,
                                   reason=str(tracefs_reason()))
"""Tests that check programs against this system's tracepoints."""

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
