"""pybpf.textio: reading and printing text never raises UnicodeError, and
control characters from hostile names cannot drive a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from conftest import SRC
from pybpf.errors import AssemblerError
from pybpf.isa import assemble
from pybpf.textio import decode_text, printable, safe_stream


def test_decode_text_replaces_what_is_not_utf8():
    text = decode_text(b"mov r0, 1 ; caf\xe9\nexit\n\xff\xfe")
    assert "\ufffd" in text
    assert len(assemble(decode_text(b"mov r0, 1 ; caf\xe9\nexit"), "ubpf")) == 2


def test_undecodable_bytes_in_code_are_an_assembler_error():
    with pytest.raises(AssemblerError) as info:
        assemble(decode_text(b"mov r0, \xff\nexit"), "ubpf")
    assert (info.value.line, info.value.column) == (1, 9)


def test_printable_escapes_controls_and_surrogates():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("tab\there\nnext") == "tab\there\nnext"
    assert printable("\x9b31m") == "\\x9b31m"
    assert printable("\x7f") == "\\x7f"
    assert printable(os.fsdecode(b"/tmp/\xff")) == "/tmp/\\udcff"
    assert printable("caf\u00e9 \u2603") == "caf\u00e9 \u2603"


def test_safe_stream_writes_escapes_to_a_narrow_encoding():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    with pytest.raises(UnicodeEncodeError):
        stream.write("caf\u00e9")
        stream.flush()
    raw = io.BytesIO()
    stream = safe_stream(io.TextIOWrapper(raw, encoding="ascii", errors="strict"))
    stream.write("caf\u00e9 " + os.fsdecode(b"\xff"))
    stream.flush()
    assert raw.getvalue() == b"caf\\xe9 \\udcff"
    text = io.StringIO()
    assert safe_stream(text) is text  # left alone


def test_safe_console_in_an_ascii_terminal():
    code = ("from pybpf.textio import safe_console; safe_console(); "
            "print('caf\\u00e9 \\u2603'); import sys; print('\\udcff', file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONIOENCODING": "ascii:strict",
           "LC_ALL": "C"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"caf\\xe9 \\u2603\n"
    assert proc.stderr == b"\\udcff\n"
