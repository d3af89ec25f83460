"""The ONNX frontend: zoo models, external data, symbolic dims, weights, opsets, subgraphs,
custom domains, module paths and memory, each checked against numbers worked out by hand."""

from __future__ import annotations

import os
import time
from math import prod

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze
from flopscope.errors import FlopscopeError, cli_spelling
from flopscope.frontends.onnx import load, module_from_name
from flopscope.memory import peak_activation

F32, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
INT64_MAX = 2**63 - 1


# --------------------------------------------------------------------------- builders


def vi(name, shape, elem=F32):
    return helper.make_tensor_value_info(name, elem, shape)


def weight(name, *shape, dtype=np.float32):
    return numpy_helper.from_array(np.full(shape, 0.5, dtype=dtype), name)


def int64s(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def scalar(name, value, dtype):
    return helper.make_node("Constant", [], [name], name=name,
                            value=numpy_helper.from_array(np.array(value, dtype)))


def make(nodes, inputs, outputs, inits=(), opset=17, ir=None, domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    *(helper.make_opsetid(d, 1) for d in domains)])
    if ir is not None:
        model.ir_version = ir
    return model


def layer(report, name):
    (row,) = [l for l in report.layers if l.name == name]
    return row


def conv_relu_gemm(opset=17, ir=None):
    """x 1x3x8x8 -> Conv 8x3x3x3 (+bias) -> Relu -> Flatten -> Gemm 10x288 (+bias)."""
    inits = [weight("cw", 8, 3, 3, 3), weight("cb", 8), weight("fw", 10, 288), weight("fb", 10)]
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="/conv/Conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="/Flatten"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="/fc/Gemm", transB=1)]
    inputs = [vi("x", [1, 3, 8, 8])]
    if ir is not None and ir < 4:  # IR 3: initializers must also be graph inputs
        inputs += [vi(t.name, list(t.dims)) for t in inits]
    model = make(nodes, inputs, [vi("y", [1, 10])], inits, opset=opset, ir=ir)
    onnx.checker.check_model(model)
    return model


CRG_CONV_MACS = 8 * 6 * 6 * 3 * 3 * 3                      # N·Cout·H·W·Cin·k·k = 7,776
CRG_GEMM_MACS = 288 * 10                                   # 2,880
CRG_FLOPS = (2 * 27 - 1) * 288 + 288 + 288 + (2 * 288 - 1) * 10 + 10   # conv+bias, relu, gemm+bias
CRG_PARAMS = 8 * 27 + 8 + 2880 + 10                        # 3,114


def test_conv_relu_gemm_by_hand():
    report = analyze(conv_relu_gemm())
    assert report.totals.macs == CRG_CONV_MACS + CRG_GEMM_MACS == 10_656
    assert report.totals.flops == CRG_FLOPS == 21_600
    assert report.totals.params == CRG_PARAMS and report.totals.param_bytes == 4 * CRG_PARAMS
    assert report.coverage.percent == 100.0 and report.notes == []
    assert [l.module for l in report.layers] == ["conv", "relu", "", "fc"]
    assert [l.params for l in report.layers] == [224, 0, 0, 2890]


def test_attributes_have_onnx_defaults_filled_in():
    graph = load(conv_relu_gemm())
    conv, _, flatten, gemm = graph.nodes
    assert conv.attrs["group"] == 1 and conv.attrs["auto_pad"] == "NOTSET"
    assert conv.attrs["kernel_shape"] == (3, 3)
    assert flatten.attrs["axis"] == 1
    assert gemm.attrs["alpha"] == 1.0 and gemm.attrs["transA"] == 0 and gemm.attrs["transB"] == 1
    assert conv.weights == frozenset({1, 2}) and gemm.weights == frozenset({1, 2})
    assert conv.shape(0) == (1, 3, 8, 8) and conv.out_shape() == (1, 8, 6, 6)


# --------------------------------------------------------------------------- model zoo


def expected_params(path: str) -> int:
    """Parameter count read straight from the file: float initializers that a node uses,
    plus the float tensors that ConstantOfShape nodes make from int64 shape initializers."""
    model = onnx.load(path, load_external_data=False)
    inits = {t.name: t for t in model.graph.initializer}
    used = {name for node in model.graph.node for name in node.input}
    total = 0
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape":
            value = [a.t for a in node.attribute if a.name == "value"]
            if not value or value[0].data_type in (TensorProto.FLOAT, TensorProto.FLOAT16,
                                                   TensorProto.DOUBLE):
                total += int(np.prod(numpy_helper.to_array(inits[node.input[0]])))
    for name, t in inits.items():
        if name in used and t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
            total += prod(t.dims)
    return total


def test_zoo_model_full_coverage_and_parameters(zoo_model):
    report = analyze(zoo_model)
    assert report.coverage.percent == 100.0, report.coverage
    assert report.coverage.complete
    assert report.totals.params == expected_params(zoo_model) > 0
    assert sum(l.params for l in report.layers) == report.totals.params
    assert report.totals.macs > 0 and report.totals.flops > report.totals.macs
    assert report.model.source == "onnx" and len(report.model.inputs) == 1


@pytest.mark.parametrize("name, params, macs", [
    ("vgg19", 143_667_240, 19_632_062_464),
    ("resnet50", None, 4_089_184_256),
    ("bvlc_alexnet", 60_965_224, None),
])
def test_zoo_published_values(light_model, name, params, macs):
    report = analyze(light_model(name))
    if params is not None:
        assert report.totals.params == params
    if macs is not None:
        assert report.totals.macs == macs


def test_zoo_resnet50_is_fast(light_model):
    path = light_model("resnet50")
    load(path)
    best = min(_timed(lambda: load(path)) for _ in range(3))
    assert best < 0.5, f"light ResNet-50 took {best:.3f} s to load (expected ~0.03 s)"


def test_zoo_batch_scales(light_model):
    # the declared output is 1x1000x1x1: a new batch size must not clash with it
    report = analyze(light_model("squeezenet"), input_shapes={"": (4, 3, 224, 224)})
    assert report.totals.macs == 4 * 349_151_936
    assert report.model.inputs[0].shape == [4, 3, 224, 224]
    assert report.layers[-1].output_shapes == [[4, 1000, 1, 1]]


def test_zoo_fixed_reshape_at_another_batch_is_refused(light_model):
    # the file reshapes to a fixed 1x2048: at batch 4 the Reshape refuses the input shape,
    # naming itself, rather than the Gemm being silently counted at batch 1
    with pytest.raises(FlopscopeError, match="input shapes given do not fit the model") as info:
        analyze(light_model("resnet50"), input_shapes={"": (4, 3, 224, 224)})
    assert "Reshape" in str(info.value) and "do not fit" in str(info.value)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- external data


def test_external_data_is_never_read(tmp_path):
    path = tmp_path / "m.onnx"
    data = tmp_path / "weights.bin"
    onnx.save_model(conv_relu_gemm(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert data.stat().st_size == 4 * CRG_PARAMS
    present = analyze(path).to_dict()
    data.write_bytes(os.urandom(4 * CRG_PARAMS))                # same size, garbage
    garbage = analyze(path).to_dict()
    data.write_bytes(b"\0" * 7)                                 # truncated: a read fails
    with pytest.raises(ValueError):
        onnx.load(str(path))
    truncated = analyze(path).to_dict()
    data.unlink()
    data.mkdir()                                                # unreadable, even for root
    with pytest.raises(onnx.checker.ValidationError, match="not regular file"):
        onnx.load(str(path))
    unreadable = analyze(path).to_dict()
    data.rmdir()
    absent = analyze(path).to_dict()
    assert present == garbage == truncated == unreadable == absent
    assert present["totals"]["params"] == CRG_PARAMS
    assert present["totals"]["macs"] == CRG_CONV_MACS + CRG_GEMM_MACS
    assert [row["params"] for row in absent["layers"]] == [224, 0, 0, 2890]


def test_huge_external_model_analyses_without_its_weights(tmp_path):
    """A 4 GiB weight that lives in a file that does not exist: only its dims are read."""
    w = TensorProto(name="w", dims=[32768, 32768], data_type=F32, data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "huge.bin"), ("offset", "0"), ("length", str(4 * 32768**2))):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    huge = make([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 32768])], [vi("y", [1, 32768])],
                [w])
    onnx.save_model(huge, str(tmp_path / "huge.onnx"))
    assert (tmp_path / "huge.onnx").stat().st_size < 1000
    report = analyze(tmp_path / "huge.onnx")
    assert report.totals.params == 32768**2 and report.totals.macs == 32768**2
    assert report.totals.param_bytes == 4 * 2**30


# --------------------------------------------------------------------------- input binding


def symbolic_conv(output_shape=("N", 8, 6, 6)):
    return make([helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
                 helper.make_node("Relu", ["c"], ["y"])],
                [vi("x", ["N", 3, 8, 8])], [vi("y", list(output_shape))], [weight("w", 8, 3, 3, 3)])


def test_symbolic_dim_bound_to_one_with_a_note():
    report = analyze(symbolic_conv())
    assert report.totals.macs == CRG_CONV_MACS
    assert report.model.inputs[0].shape == [1, 3, 8, 8]
    assert any("'N'" in n and "bound to 1" in n and "dims={'N': SIZE}" in n for n in report.notes)
    assert report.layers[-1].output_shapes == [[1, 8, 6, 6]]


def test_dims_scale_macs():
    report = analyze(symbolic_conv(), dims={"N": 8})
    assert report.totals.macs == 8 * CRG_CONV_MACS
    assert report.model.inputs[0].shape == [8, 3, 8, 8]
    assert not any("bound to 1" in n for n in report.notes)
    assert report.layers[-1].output_shapes == [[8, 8, 6, 6]]


@pytest.mark.parametrize("key", ["x", ""])
def test_input_shapes_named_and_unnamed(key):
    report = analyze(symbolic_conv(), input_shapes={key: (2, 3, 32, 32)})
    assert report.totals.macs == 2 * 8 * 30 * 30 * 27
    assert report.model.inputs[0].shape == [2, 3, 32, 32]
    assert report.layers[-1].output_shapes == [[2, 8, 30, 30]]


def test_positional_shape_and_unnamed_shape_need_a_single_input():
    assert analyze(symbolic_conv(), (2, 3, 8, 8)).totals.macs == 2 * CRG_CONV_MACS
    two = make([helper.make_node("Add", ["a", "b"], ["y"])], [vi("a", [2]), vi("b", [2])], [vi("y", [2])])
    with pytest.raises(FlopscopeError, match="2 inputs.*name them"):
        analyze(two, input_shapes={"": (2,)})


def test_input_shape_with_dtype_from_the_cli():
    report = analyze(symbolic_conv(), input_shapes={"x": ((2, 3, 8, 8), "float32")})
    assert report.totals.macs == 2 * CRG_CONV_MACS
    with pytest.raises(FlopscopeError, match="float32 in the model, not int64"):
        analyze(symbolic_conv(), input_shapes={"x": ((2, 3, 8, 8), "int64")})
    with pytest.raises(FlopscopeError, match="unknown dtype"):
        analyze(symbolic_conv(), input_shapes={"x": ((2, 3, 8, 8), "float33")})


def test_declared_output_shape_does_not_block_a_new_input_size():
    report = analyze(symbolic_conv(output_shape=(1, 8, 6, 6)), input_shapes={"x": (3, 3, 10, 10)})
    assert report.totals.macs == 3 * 8 * 8 * 8 * 27
    assert report.layers[-1].output_shapes == [[3, 8, 8, 8]]


def test_input_shape_for_a_name_that_is_not_an_input():
    with pytest.raises(FlopscopeError, match="'z'.*inputs are 'x'"):
        analyze(symbolic_conv(), input_shapes={"z": (1, 3, 8, 8)})
    with pytest.raises(FlopscopeError, match="'w'"):           # an initializer is no input
        analyze(symbolic_conv(), input_shapes={"w": (8, 3, 3, 3)})


def test_dim_that_the_model_does_not_have():
    with pytest.raises(FlopscopeError, match="dims names 'batch'.*'N'"):
        analyze(symbolic_conv(), dims={"batch": 4})
    with cli_spelling(), pytest.raises(FlopscopeError, match="--dim names 'batch'.*'N'"):
        analyze(symbolic_conv(), dims={"batch": 4})


def test_input_shape_rank_mismatch():
    with pytest.raises(FlopscopeError, match="rank 4"):
        analyze(symbolic_conv(), input_shapes={"x": (1, 3, 8)})


def test_input_without_shape_says_which_flag_to_pass():
    model = make([helper.make_node("Relu", ["x"], ["y"])], [vi("x", None)], [vi("y", None)])
    with pytest.raises(FlopscopeError, match=r"input 'x' has no declared shape; give input_shapes=\{'x'"):
        analyze(model)
    with cli_spelling(), pytest.raises(FlopscopeError, match=r"no declared shape; give --input-shape x="):
        analyze(model)
    report = analyze(model, input_shapes={"x": (2, 5)})
    assert report.totals.flops == 10 and report.layers[0].output_shapes == [[2, 5]]


def test_input_with_an_anonymous_dim_says_which_flag_to_pass():
    x = vi("x", [1, 3])
    x.type.tensor_type.shape.dim[1].Clear()                  # neither dim_value nor dim_param
    model = make([helper.make_node("Relu", ["x"], ["y"])], [x], [vi("y", [1, 3])])
    with pytest.raises(FlopscopeError, match=r"give input_shapes=\{'x'"):
        analyze(model)
    with cli_spelling(), pytest.raises(FlopscopeError, match=r"--input-shape x=1x\?"):
        analyze(model)


def test_output_without_declared_shape_is_inferred():
    model = make([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [4, 5])], [vi("y", None)])
    graph = load(model)
    assert graph.outputs[0].shape == (4, 5)
    assert analyze(model).totals.flops == 20


def test_symbol_given_for_one_input_binds_the_others():
    model = make([helper.make_node("Add", ["a", "b"], ["y"])], [vi("a", ["N", 8]), vi("b", ["N", 8])],
                 [vi("y", ["N", 8])])
    report = analyze(model, input_shapes={"b": (4, 8)})
    assert [i.shape for i in report.model.inputs] == [[4, 8], [4, 8]]
    assert report.totals.flops == 32 and not any("bound to 1" in n for n in report.notes)


def test_bound_symbols_resolve_declared_shapes_that_inference_cannot_reach():
    # nothing infers a custom op's output: its declared N x 16 is resolved with the bound N
    nodes = [helper.make_node("Relu", ["x"], ["c"]),
             helper.make_node("Foo", ["c"], ["y"], domain="com.example", name="foo")]
    model = make(nodes, [vi("x", ["N", 16])], [vi("y", ["N", 16])], domains=["com.example"])
    report = analyze(model, dims={"N": 4})
    assert layer(report, "foo").output_shapes == [[4, 16]] and layer(report, "foo").output_bytes == 256
    assert not any("unknown size" in n for n in report.notes)


def test_declared_shapes_that_contradict_inference_give_way():
    # e.g. an input edited to batch 8 while the declared output still says batch 1
    model = make([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [8, 4])], [vi("y", [1, 4])])
    report = analyze(model)
    assert report.totals.flops == 32 and report.layers[0].output_shapes == [[8, 4]]
    assert any("declared shapes contradict shape inference" in n for n in report.notes)


def test_inference_that_fails_stops_early_with_a_note():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "b"], ["y"], name="mm"),
             helper.make_node("Neg", ["r"], ["z"])]
    model = make(nodes, [vi("x", ["N", 4]), vi("b", [5, 3])], [vi("y", None), vi("z", None)])
    report = analyze(model)                                  # 4 x (5x3): no product
    assert layer(report, "mm").status == "unresolved" and report.coverage.unresolved == {"MatMul": 1}
    assert report.totals.flops == 8 and any("shape inference stopped early" in n for n in report.notes)
    with pytest.raises(FlopscopeError, match="input shapes given do not fit"):
        analyze(model, input_shapes={"x": (2, 4)})


# --------------------------------------------------------------------------- weights


def matmul_on(weight_nodes, weight_name, inits=(), ir=None, extra_inputs=()):
    nodes = [*weight_nodes, helper.make_node("MatMul", ["x", weight_name], ["y"])]
    return make(nodes, [vi("x", [1, 64]), *extra_inputs], [vi("y", [1, 64])], inits, ir=ir)


@pytest.mark.parametrize("size", [64, 8])   # 64x64 is moved out of the inference copy, 8x8 kept
def test_weights_from_constant_nodes(size):
    const = helper.make_node("Constant", [], ["w"], value=weight("w_value", size, 64))
    x = vi("x", [1, size])
    model = make([const, helper.make_node("MatMul", ["x", "w"], ["y"])], [x], [vi("y", [1, 64])])
    report = analyze(model)
    assert report.totals.params == size * 64 and report.totals.macs == size * 64
    assert report.layers[0].op == "Constant" and report.layers[0].params == 0
    assert report.layers[1].params == size * 64
    assert report.totals.activation_bytes == 64 * 4          # the constant is a weight


def test_weights_from_constant_value_floats():
    const = helper.make_node("Constant", [], ["w"], value_floats=[0.5] * 2048)
    model = make([const, helper.make_node("Mul", ["x", "w"], ["y"])], [vi("x", [1, 2048])],
                 [vi("y", [1, 2048])])
    report = analyze(model)
    assert report.totals.params == 2048 and report.totals.flops == 2048


def test_weights_from_constant_of_shape():
    make_w = helper.make_node("ConstantOfShape", ["w_shape"], ["w"],
                              value=numpy_helper.from_array(np.array([0.1], np.float32)))
    report = analyze(matmul_on([make_w], "w", [int64s("w_shape", [64, 64])]))
    assert report.totals.params == 64 * 64 and report.totals.macs == 64 * 64
    assert report.totals.param_bytes == 64 * 64 * 4
    assert report.totals.activation_bytes == 64 * 4


def test_initializers_listed_as_inputs_ir3():
    model = make([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 64]), vi("w", [64, 64])],
                 [vi("y", [1, 64])], [weight("w", 64, 64)], opset=7, ir=3)
    onnx.checker.check_model(model)
    report = analyze(model)
    assert [i.name for i in report.model.inputs] == ["x"]
    assert report.totals.params == 64 * 64 and report.totals.macs == 64 * 64


def test_integer_initializers_are_not_parameters():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]),
             helper.make_node("Gather", ["table", "idx"], ["g"]),
             helper.make_node("Add", ["r", "bias"], ["y"])]
    model = make(nodes, [vi("x", [2, 8]), vi("idx", [3], I64)], [vi("y", [4, 4]), vi("g", [3, 5], I64)],
                 [int64s("shape", [4, 4]), numpy_helper.from_array(np.zeros((10, 5), np.int64), "table"),
                  weight("bias", 4)])
    report = analyze(model)
    assert report.totals.params == 4 and report.totals.param_bytes == 16


def test_unused_initializer_is_noted_and_not_counted():
    model = matmul_on([], "w", [weight("w", 64, 64), weight("spare", 100)])
    report = analyze(model)
    assert report.totals.params == 64 * 64
    assert any("1 initializer(s) not used" in n for n in report.notes)


def test_shared_weights_counted_once():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="first"),
             helper.make_node("MatMul", ["h", "w"], ["y"], name="second")]
    model = make(nodes, [vi("x", [1, 64])], [vi("y", [1, 64])], [weight("w", 64, 64)])
    report = analyze(model)
    assert report.totals.params == 64 * 64 and report.totals.macs == 2 * 64 * 64
    assert layer(report, "first").params == 64 * 64 and layer(report, "second").params == 0


def test_sparse_initializer_counts_at_its_dense_shape():
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(np.ones(3, np.float32), "w"),
                                       int64s("w_idx", [0, 5, 9]), [4, 4])
    model = make([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 4])], [vi("y", [1, 4])])
    model.graph.sparse_initializer.append(sparse)
    onnx.checker.check_model(model)
    report = analyze(model)
    assert report.totals.params == 16 and report.totals.macs == 16 and report.notes == []


def test_local_functions_are_inlined():
    scale = helper.make_function("local", "Scale", ["a", "b"], ["c"],
                                 [helper.make_node("MatMul", ["a", "b"], ["m"], name="mm"),
                                  helper.make_node("Relu", ["m"], ["c"], name="act")],
                                 [helper.make_opsetid("", 17)])
    calls = [helper.make_node("Scale", ["x", "W"], ["h"], domain="local", name="/blk1/Scale"),
             helper.make_node("Scale", ["h", "W"], ["y"], domain="local", name="/blk2/Scale")]
    model = make(calls, [vi("x", [1, 16])], [vi("y", [1, 16])], [W16], domains=["local"])
    model.functions.append(scale)
    report = analyze(model)
    assert report.coverage.percent == 100.0 and [l.op for l in report.layers] == ["MatMul", "Relu"] * 2
    assert report.totals.macs == 2 * MM_MACS and report.totals.params == 256


# --------------------------------------------------------------------------- opsets


@pytest.mark.parametrize("opset, ir", [(7, 3), (9, 4), (11, 6), (13, 7), (17, 8), (21, 10), (23, 11)])
def test_opsets_7_to_23_agree(opset, ir):
    report = analyze(conv_relu_gemm(opset, ir))
    assert (report.totals.macs, report.totals.flops, report.totals.params) == (
        CRG_CONV_MACS + CRG_GEMM_MACS, CRG_FLOPS, CRG_PARAMS)
    assert report.coverage.percent == 100.0


def test_opset_unknown_to_onnx_is_an_error():
    model = conv_relu_gemm()
    model.opset_import[0].version = 99
    with pytest.raises(FlopscopeError, match="opset 99"):
        analyze(model)


# --------------------------------------------------------------------------- subgraphs

MM_MACS = 16 * 16                       # [1,16] x [16,16]
MM_FLOPS = (2 * 16 - 1) * 16            # 496
W16 = weight("W", 16, 16)


def branch(name, heavy):
    nodes = ([helper.make_node("MatMul", ["x", "W"], [f"{name}_out"], name=f"{name}_mm")] if heavy
             else [helper.make_node("Relu", ["x"], [f"{name}_out"], name=f"{name}_relu")])
    return helper.make_graph(nodes, name, [], [vi(f"{name}_out", [1, 16])])


def if_model(cond_node=None, then_heavy=True):
    nodes = [cond_node] if cond_node is not None else []
    nodes.append(helper.make_node("If", ["cond"], ["y"], name="if",
                                  then_branch=branch("then", then_heavy),
                                  else_branch=branch("else", not then_heavy)))
    inputs = [vi("x", [1, 16])] + ([] if cond_node is not None else [vi("cond", [], BOOL)])
    return make(nodes, inputs, [vi("y", [1, 16])], [W16])


@pytest.mark.parametrize("value, macs, flops", [(True, MM_MACS, MM_FLOPS), (False, 0, 16)])
def test_if_with_constant_condition_costs_the_taken_branch(value, macs, flops):
    report = analyze(if_model(scalar("cond", value, np.bool_)))
    assert report.totals.macs == macs and report.totals.flops == flops
    taken = "then" if value else "else"
    assert {l.name for l in report.layers} == {"cond", f"if/{taken}_{'mm' if value else 'relu'}", "if"}
    assert any("condition is constant" in n for n in report.notes)
    assert report.coverage.percent == 100.0


@pytest.mark.parametrize("then_heavy", [True, False])
def test_if_with_unknown_condition_costs_the_heavier_branch(then_heavy):
    report = analyze(if_model(then_heavy=then_heavy))
    assert report.totals.macs == MM_MACS and report.totals.flops == MM_FLOPS
    light = layer(report, "if/else_relu" if then_heavy else "if/then_relu")
    assert light.status == "not-taken" and light.flops == 0
    heavy = "then_branch" if then_heavy else "else_branch"
    assert any("condition unknown" in n and heavy in n for n in report.notes)
    assert report.totals.params == 256


def loop_body():
    return helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "W"], ["h_mm"], name="mm"),
         helper.make_node("Relu", ["h_mm"], ["h_out"], name="relu"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going")],
        "body", [vi("i", [], I64), vi("cond_in", [], BOOL), vi("h_in", [1, 16])],
        [vi("cond_out", [], BOOL), vi("h_out", [1, 16])])


def loop_model(trips):
    nodes = [scalar("cond", True, np.bool_)]
    inputs = [vi("x", [1, 16])]
    if trips is None:
        inputs.append(vi("M", [], I64))
    else:
        nodes.append(scalar("M", trips, np.int64))
    nodes.append(helper.make_node("Loop", ["M", "cond", "x"], ["y"], name="loop", body=loop_body()))
    return make(nodes, inputs, [vi("y", [1, 16])], [W16])


def test_loop_with_constant_trip_count_multiplies_the_body():
    report = analyze(loop_model(5))
    assert report.totals.macs == 5 * MM_MACS
    assert report.totals.flops == 5 * (MM_FLOPS + 16)
    assert layer(report, "loop/mm").repeat == 5 and layer(report, "loop/mm").macs == 5 * MM_MACS
    assert layer(report, "loop").repeat == 1
    assert report.totals.params == 256 and report.coverage.percent == 100.0


@pytest.mark.parametrize("trips", [None, INT64_MAX])
def test_loop_with_unknown_trip_count_counts_once_with_a_note(trips):
    report = analyze(loop_model(trips))
    assert report.totals.macs == MM_MACS and report.totals.flops == MM_FLOPS + 16
    assert any("Loop 'loop': trip count unknown" in n for n in report.notes)


def test_new_input_size_reaches_into_subgraphs():
    # the branches and the loop body were declared for batch 1
    report = analyze(if_model(), input_shapes={"x": (4, 16)})
    assert report.totals.macs == 4 * MM_MACS and report.coverage.percent == 100.0
    report = analyze(loop_model(5), input_shapes={"x": (4, 16)})
    # ONNX does not infer loop-carried shapes into the body: never a silent batch-1 count
    assert report.totals.macs == 5 * 4 * MM_MACS or not report.coverage.complete


def scan_model(axis):
    body = helper.make_graph(
        [helper.make_node("MatMul", ["s_in", "W"], ["s_mm"], name="mm"),
         helper.make_node("Add", ["acc_in", "s_mm"], ["acc_out"], name="add"),
         helper.make_node("Identity", ["s_mm"], ["s_out"], name="copy")],
        "body", [vi("acc_in", [16]), vi("s_in", [16])], [vi("acc_out", [16]), vi("s_out", [16])])
    seq_shape = [7, 16] if axis == 0 else [16, 7]
    scan = helper.make_node("Scan", ["init", "seq"], ["acc", "outs"], name="scan", body=body,
                            num_scan_inputs=1, scan_input_axes=[axis])
    return make([scan], [vi("init", [16]), vi("seq", seq_shape)], [vi("acc", [16]), vi("outs", [7, 16])],
                [W16])


@pytest.mark.parametrize("axis", [0, 1])
def test_scan_multiplies_by_the_scan_length(axis):
    report = analyze(scan_model(axis))
    assert report.totals.macs == 7 * MM_MACS
    assert report.totals.flops == 7 * (MM_FLOPS + 16)
    assert layer(report, "scan/mm").repeat == 7
    assert report.coverage.percent == 100.0


def test_scan_8_runs_the_body_per_batch_item_and_step():
    body = helper.make_graph(
        [helper.make_node("MatMul", ["s_in", "W"], ["s_mm"], name="mm"),
         helper.make_node("Add", ["acc_in", "s_mm"], ["acc_out"], name="add")],
        "body", [vi("acc_in", [1, 16]), vi("s_in", [1, 16])], [vi("acc_out", [1, 16])])
    scan = helper.make_node("Scan", ["", "init", "seq"], ["acc"], name="scan", body=body, num_scan_inputs=1)
    model = make([scan], [vi("init", [3, 1, 16]), vi("seq", [3, 7, 1, 16]), vi("W", [16, 16])],
                 [vi("acc", [3, 1, 16])], [W16], opset=8, ir=3)
    report = analyze(model)                 # Scan-8 inputs are [batch, sequence, ...]
    assert layer(report, "scan/mm").repeat == 3 * 7 and report.totals.macs == 3 * 7 * MM_MACS


def test_large_constants_before_and_inside_subgraphs_keep_inference_aligned():
    """Large constants are moved out of the inference copy; the walk must skip exactly those
    (value_floats ones, and ones inside subgraphs) or later subgraphs lose their shapes."""
    big = helper.make_node("Constant", [], ["big"], value_floats=[0.5] * 2048, name="big")
    inner_big = helper.make_node("Constant", [], ["inner_big"], value=weight("ib", 2048), name="inner_big")
    then = helper.make_graph(
        [inner_big, helper.make_node("Mul", ["v", "inner_big"], ["t_v"], name="inner_scale"),
         helper.make_node("Loop", ["M", "cond", "x"], ["t_out"], name="loop", body=loop_body())],
        "then", [], [vi("t_out", [1, 16])])
    nodes = [big, helper.make_node("Mul", ["v", "big"], ["v2"], name="scale"),
             scalar("cond", True, np.bool_), scalar("M", 3, np.int64),
             helper.make_node("If", ["flag"], ["y"], name="if", then_branch=then,
                              else_branch=branch("else", False)),
             helper.make_node("Loop", ["M", "cond", "x"], ["z"], name="loop2", body=loop_body())]
    model = make(nodes, [vi("x", [1, 16]), vi("v", [2048]), vi("flag", [], BOOL)],
                 [vi("y", [1, 16]), vi("z", [1, 16]), vi("v2", [2048])], [W16])
    report = analyze(model)
    assert report.coverage.percent == 100.0, report.coverage
    assert layer(report, "if/loop/mm").macs == 3 * MM_MACS
    assert layer(report, "loop2/mm").macs == 3 * MM_MACS
    assert report.totals.macs == 6 * MM_MACS
    assert report.totals.params == 2048 + 2048 + 256


# --------------------------------------------------------------------------- custom domains


@pytest.mark.parametrize("imported", [True, False])
def test_custom_domain_op_is_unsupported_and_the_rest_costed(imported):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], name="conv"),
             helper.make_node("FancyOp", ["c"], ["y"], domain="com.example", name="fancy")]
    model = make(nodes, [vi("x", [1, 3, 8, 8])], [vi("y", [1, 8, 6, 6])], [weight("w", 8, 3, 3, 3)],
                 domains=["com.example"] if imported else [])
    report = analyze(model)
    assert report.coverage.unsupported == {"com.example.FancyOp": 1}
    assert report.coverage.costed == 1 and report.coverage.percent == 50.0
    assert report.totals.macs == CRG_CONV_MACS
    fancy = layer(report, "fancy")
    assert fancy.status == "unsupported" and fancy.macs is None and fancy.op == "com.example.FancyOp"
    from flopscope.render import render

    assert "unsupported: com.example.FancyOp x1" in render(report)     # from the coverage, not a note


# --------------------------------------------------------------------------- module paths


@pytest.mark.parametrize("name, module", [
    ("/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"),
    ("/layer1/layer1.0/Add", "layer1.0"),
    ("/conv1/Conv", "conv1"),
    ("/features/features.0/Conv", "features.0"),
    ("/model/layers.0/self_attn/q_proj/MatMul", "model.layers.0.self_attn.q_proj"),
    ("/encoder/layer.0/attention/self/query/MatMul", "encoder.layer.0.attention.self.query"),
    ("/layer1/layer1.0/layer1.0.conv1/Conv", "layer1.0.conv1"),
    ("/layer1/layer10/Conv", "layer1.layer10"),
    ("/Conv", ""),
    ("Conv_0", ""),
    ("n12", ""),
    ("", ""),
])
def test_module_from_name(name, module):
    assert module_from_name(name) == module


def test_module_from_torch_dynamo_namespace():
    node = helper.make_node("Relu", ["x"], ["y"], name="node_relu")
    helper.set_metadata_props(node, {"namespace": (
        ": __main__.Net/layer1: torch.nn.modules.container.Sequential/layer1.0: __main__.B/"
        "layer1.0.relu: torch.nn.modules.activation.ReLU/relu: aten.relu.default")})
    top = helper.make_node("Neg", ["y"], ["z"], name="node_neg")
    helper.set_metadata_props(top, {"namespace": ": __main__.Net/neg: aten.neg.default"})
    graph = load(make([node, top], [vi("x", [2])], [vi("z", [2])]))
    assert [n.module for n in graph.nodes] == ["layer1.0.relu", ""]


def resnet_like():
    """conv1 -> relu -> layer1.0 (conv1, relu) -> layer1.1 (conv1, Add), 1x4x8x8 activations."""
    def conv(name, x, y, w):
        return helper.make_node("Conv", [x, w], [y], name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [conv("/conv1/Conv", "x", "a", "w1"),
             helper.make_node("Relu", ["a"], ["b"], name="/relu/Relu"),
             conv("/layer1/layer1.0/conv1/Conv", "b", "c", "w2"),
             helper.make_node("Relu", ["c"], ["d"], name="/layer1/layer1.0/relu/Relu"),
             conv("/layer1/layer1.1/conv1/Conv", "d", "e", "w3"),
             helper.make_node("Add", ["e", "b"], ["y"], name="/layer1/layer1.1/Add")]
    return make(nodes, [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 8, 8])],
                [weight("w1", 4, 3, 3, 3), weight("w2", 4, 4, 3, 3), weight("w3", 4, 4, 3, 3)])


def test_by_module_rollups():
    report = analyze(resnet_like())
    conv1, conv_b = 4 * 64 * 27, 4 * 64 * 36                  # 6,912 and 9,216 MACs
    assert [l.module for l in report.layers] == [
        "conv1", "relu", "layer1.0.conv1", "layer1.0.relu", "layer1.1.conv1", "layer1.1"]
    rows = {r.module: r for r in report.by_module(1)}
    assert list(rows) == ["", "conv1", "relu", "layer1"]
    assert (rows[""].macs, rows[""].flops, rows[""].params, rows[""].layers) == (
        report.totals.macs, report.totals.flops, report.totals.params, 6)
    assert (rows["layer1"].macs, rows["layer1"].params, rows["layer1"].layers) == (2 * conv_b, 288, 4)
    assert rows["conv1"].macs == conv1 and rows["relu"].flops == 256
    rows2 = {r.module: r for r in report.by_module(2)}
    assert (rows2["layer1.0"].macs, rows2["layer1.0"].flops, rows2["layer1.0"].layers) == (
        conv_b, (2 * 36 - 1) * 256 + 256, 2)
    assert (rows2["layer1.1"].flops, rows2["layer1.1"].layers) == ((2 * 36 - 1) * 256 + 256, 2)
    for depth in (1, 2, 3, 5):
        for row in report.by_module(depth):
            mine = [l for l in report.layers
                    if row.module == "" or l.module == row.module or l.module.startswith(row.module + ".")]
            assert row.macs == sum(l.macs for l in mine) and row.params == sum(l.params for l in mine)
            assert row.layers == len(mine) and row.depth == (row.module.count(".") + 1 if row.module else 0)
    assert [r.module for r in report.by_module(3)] == [
        "", "conv1", "relu", "layer1", "layer1.0", "layer1.0.conv1", "layer1.0.relu", "layer1.1",
        "layer1.1.conv1"]


def test_duplicate_and_missing_node_names_are_made_unique():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="act"),
             helper.make_node("Relu", ["a"], ["b"], name="act"),
             helper.make_node("Neg", ["b"], ["y"])]
    graph = load(make(nodes, [vi("x", [3])], [vi("y", [3])]))
    names = [n.name for n in graph.nodes]
    assert len(set(names)) == 3 and names[0] == "act" and names[2].startswith("Neg")


# --------------------------------------------------------------------------- memory


def branchy():
    """x -> relu=a -> concat4=b (4x a) -> exp=c (of a, while b lives) -> sum=d (of b) -> mul=y (c*d).

    Sizes: x, a, c, y 4 KiB; b 16 KiB; d 4 B."""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"),
             helper.make_node("Concat", ["a", "a", "a", "a"], ["b"], name="concat", axis=1),
             helper.make_node("Exp", ["a"], ["c"], name="exp"),
             helper.make_node("ReduceSum", ["b"], ["d"], name="sum", keepdims=1),
             helper.make_node("Mul", ["c", "d"], ["y"], name="mul")]
    return make(nodes, [vi("x", [1, 1024])], [vi("y", [1, 1024])])


def test_peak_activation_by_hand():
    graph = load(branchy())
    peak = peak_activation(graph)
    # step relu: x+a = 8 KiB, x freed; concat: a+b = 20 KiB; exp: a+b+c = 24 KiB (the peak),
    # a freed; sum: b+c+d, b freed; mul: c+d+y = 8 KiB + 4 B
    assert peak.bytes == 4096 + 16384 + 4096 and peak.node == "exp" and peak.unknown == 0
    report = analyze(branchy())
    assert report.totals.peak_activation_bytes == 24576
    assert report.totals.activation_bytes == 4096 + 16384 + 4096 + 4 + 4096


def test_traffic_bytes_per_layer():
    report = analyze(branchy())
    traffic = {l.name: l.traffic_bytes for l in report.layers}
    assert traffic == {"relu": 4096 + 4096, "concat": 4096 + 16384,      # a is read once
                       "exp": 4096 + 4096, "sum": 16384 + 4, "mul": 4096 + 4 + 4096}
    assert report.totals.traffic_bytes == sum(traffic.values())
    crg = analyze(conv_relu_gemm())
    # inputs incl. weights and bias + outputs, float32
    assert layer(crg, "/conv/Conv").traffic_bytes == 4 * (3 * 64 + 216 + 8 + 8 * 36)
    assert layer(crg, "/fc/Gemm").traffic_bytes == 4 * (288 + 2880 + 10 + 10)
    assert layer(crg, "/conv/Conv").output_bytes == 4 * 288


def test_weights_are_not_activations_in_the_zoo(light_model):
    report = analyze(light_model("squeezenet"))
    graph = load(light_model("squeezenet"))
    assert all(n.op != "ConstantOfShape" or all(t.name in graph.constants for t in n.outputs)
               for n in graph.nodes)
    # the first conv reads the 1x3x224x224 input and writes 1x64x111x111 (+ its weights)
    conv = next(l for l in report.layers if l.op == "Conv")
    assert conv.output_bytes == 4 * 64 * 111 * 111
    assert conv.traffic_bytes == 4 * (3 * 224 * 224 + 64 * 3 * 3 * 3 + 64 + 64 * 111 * 111)
    assert report.totals.peak_activation_bytes < report.totals.activation_bytes


# --------------------------------------------------------------------------- bad models


def test_model_proto_without_nodes_is_an_error():
    with pytest.raises(FlopscopeError, match="no nodes"):
        analyze(make([], [vi("x", [1])], [vi("x", [1])]))


def test_invalid_graph_is_a_one_line_error():
    model = make([helper.make_node("Relu", ["nowhere"], ["y"])], [vi("x", [1])], [vi("y", [1])])
    with pytest.raises(FlopscopeError, match="invalid ONNX graph") as info:
        analyze(model)
    assert "\n" not in str(info.value)


def test_ir3_initializer_not_listed_as_input_is_analysed_as_ir4():
    """ONNX Runtime's optimizer writes fused weights into an IR 3 file without listing them
    as graph inputs (which IR < 4 requires); ONNX Runtime loads it, so flopscope counts it:
    a 3x3 conv, 4 -> 8 channels on 1x4x6x6 (pads 1): 8·36·4·9 = 10,368 MACs."""
    w = numpy_helper.from_array(np.zeros((8, 4, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 3
    report = analyze(model)
    assert report.coverage.complete and report.totals.macs == 8 * 36 * 4 * 9
    assert report.totals.params == 8 * 4 * 9
    assert any("analysed as IR 4" in n for n in report.notes)
    assert model.ir_version == 3                       # the caller's model is left as it was
