"""The Linux BPF ABI as tables: the generated :mod:`pybpf.spec.linux` (enums,
helper ids, struct layouts read from kernel BTF by ``generators/gen_spec.py``)
and hand-written modules beside it.  Every layer reads its ABI numbers here.
"""

from .layout import (
    FieldLayout,
    StructLayout,
    constant,
    enum_name,
    enum_values,
    helper_id,
    helper_name,
    helpers,
    struct_layout,
    struct_names,
)

__all__ = [
    "FieldLayout",
    "StructLayout",
    "constant",
    "enum_name",
    "enum_values",
    "helper_id",
    "helper_name",
    "helpers",
    "struct_layout",
    "struct_names",
]
