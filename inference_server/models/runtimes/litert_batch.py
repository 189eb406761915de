"""Let a batch-1 TFLite classifier run on batches.

Many published .tflite classifiers (the official MobileNetV2 ones among them) end with
a RESHAPE whose target shape is the constant [1, classes]. Resizing the input tensor
to a batch then fails ("num_input_elements != num_output_elements"). This module
rewrites, in a copy of the model bytes, the leading 1 of such constant reshape
shapes to -1 ("whatever the batch is"). The bytes are patched in place at offsets
found with the TFLite flatbuffer schema, so everything else (weights, metadata,
the appended label ZIP) stays byte for byte the same.
"""

from __future__ import annotations

import struct
from collections import Counter

_INT32_MINUS_ONE = struct.pack("<i", -1)


def _vector_pos(tab: object, field_offset: int) -> int | None:
    """Absolute position of a flatbuffer table's vector field, or None when absent."""
    o = tab.Offset(field_offset)  # type: ignore[attr-defined]
    return tab.Vector(o) if o else None  # type: ignore[attr-defined]


def make_batch_dynamic(model: bytes) -> tuple[bytes, int]:
    """Returns (patched model bytes, number of reshape shapes changed)."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAs(model, 0)
    out = bytearray(model)
    patched = 0
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        codes.append(max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode())))
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        buffer_users = Counter(sg.Tensors(t).Buffer() for t in range(sg.TensorsLength()))
        for j in range(sg.OperatorsLength()):
            op = sg.Operators(j)
            if codes[op.OpcodeIndex()] != schema.BuiltinOperator.RESHAPE:
                continue
            # The shape as a constant input tensor (used by the kernel when present).
            if op.InputsLength() >= 2 and op.Inputs(1) >= 0:
                shape_tensor = sg.Tensors(op.Inputs(1))
                b = shape_tensor.Buffer()
                if (shape_tensor.Type() == schema.TensorType.INT32 and b > 0
                        and buffer_users[b] == 1):
                    buf = m.Buffers(b)
                    pos = _vector_pos(buf._tab, 4)
                    if (pos is not None and buf.DataLength() >= 8
                            and struct.unpack_from("<i", out, pos)[0] == 1):
                        out[pos:pos + 4] = _INT32_MINUS_ONE
                        patched += 1
            # The same shape in the op's ReshapeOptions.new_shape.
            if op.BuiltinOptionsType() == schema.BuiltinOptions.ReshapeOptions:
                table = op.BuiltinOptions()
                if table is not None:
                    opts = schema.ReshapeOptions()
                    opts.Init(table.Bytes, table.Pos)
                    pos = _vector_pos(opts._tab, 4)
                    if (pos is not None and opts.NewShapeLength() >= 2
                            and struct.unpack_from("<i", out, pos)[0] == 1):
                        out[pos:pos + 4] = _INT32_MINUS_ONE
                        patched += 1
    return bytes(out), patched
