"""The ONNX path without ``import onnx``: the package's protobuf classes and C++ checker,
shape inference, schemas and inliner loaded on their own, giving the same reports as the
package, and a later ``import onnx`` in the same process sharing them.

The test process imports onnx first (so :mod:`flopscope.frontends.onnxcore` takes the
package's own objects there); fresh interpreters show the other mode.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.frontends import onnxcore
from tests.frontends.test_fold import chunk_model


def _fresh(code: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def test_loads_without_the_onnx_package_or_numpy():
    out = _fresh("""
        import sys
        from flopscope.frontends import onnxcore
        print(sorted(m for m in ("onnx", "numpy", "google.protobuf.json_format") if m in sys.modules))
        print(onnxcore.ModelProto.__module__, onnxcore.newest_opset() >= 21)
    """).stdout.split("\n")
    assert out[:2] == ["[]", "onnx.onnx_ml_pb2 True"]


def test_a_later_import_onnx_shares_the_classes_and_still_works():
    out = _fresh("""
        from flopscope.frontends import onnxcore
        import onnx
        from onnx import helper, numpy_helper, shape_inference
        import numpy as np
        assert onnx.ModelProto is onnxcore.ModelProto and onnx.TensorProto is onnxcore.TensorProto
        assert onnx.checker.ValidationError is onnxcore.ValidationError
        g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", 1, [2, 3])],
                              [helper.make_tensor_value_info("y", 1, [None, None])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(m)
        inferred = shape_inference.infer_shapes(m)
        print([d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim])
        print(onnx.defs.get_schema("Conv", 17).attributes["group"].default_value.i)
        print(numpy_helper.to_array(numpy_helper.from_array(np.arange(3))).tolist())
        import flopscope
        print(flopscope.analyze(m).totals.flops)
    """).stdout.split("\n")
    assert out[:4] == ["[2, 3]", "1", "[0, 1, 2]", "6"]


def test_an_onnx_laid_out_otherwise_falls_back_to_the_package(light_model):
    out = _fresh(f"""
        import importlib.util, sys
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "onnx" else real(name, *a)
        from flopscope.frontends import onnxcore
        importlib.util.find_spec = real
        import flopscope
        print("onnx" in sys.modules, flopscope.analyze({light_model("resnet50")!r}).totals.macs)
    """).stdout.split("\n")
    assert out[0] == "True 4089184256"


_REPORTS = """
    import json, sys
    request = json.load(sys.stdin)
    if request["mode"] == "public":
        import onnx                                 # imported first: the public API throughout
    from flopscope.analysis import analyze
    from flopscope.errors import FlopscopeError
    from flopscope.frontends import onnx as frontend, onnxcore

    def reports():
        out = []
        for path in request["paths"]:
            try:
                out.append(analyze(path).to_dict())
            except FlopscopeError as exc:
                out.append(str(exc))
        return out

    def private():
        return sorted(name for name, entry in onnxcore.ENTRIES.items() if entry.private is not None)

    result = {"private": private(), "runs": []}
    if request["mode"] != "patched":
        result["reports"] = reports()
        result["private_after"] = private()
    else:
        import types
        real = onnxcore._native
        forms = {name: entry.private for name, entry in onnxcore.ENTRIES.items()}
        OTHER_TYPE = {"check_model": lambda v: True, "infer_shapes": onnxcore.parse_model,
                      "inline_local_functions": onnxcore.parse_model,
                      "schema_version_map": lambda v: list(v.items()), "get_schema": lambda v: v.attributes}
        for part, name, kind in request["variants"]:
            calls = []

            def changed(*args, kind=kind):
                calls.append(len(args))
                if kind == "signature":              # called positionally with more arguments
                    return (lambda only: only)(*args)
                if kind == "raising":
                    raise RuntimeError("an onnx this module does not know")
                # another return type: what a binding handing back objects, not bytes, gives
                value = getattr(getattr(real, part), name)(*args)
                return OTHER_TYPE[name](value)

            members = {k: getattr(getattr(real, part), k) for k in dir(getattr(real, part))
                       if not k.startswith("__")}
            if kind == "missing":
                del members[name]
            else:
                members[name] = changed
            onnxcore._native = types.SimpleNamespace(**{p: getattr(real, p) for p in
                                                        ("checker", "shape_inference", "defs", "inliner")})
            setattr(onnxcore._native, part, types.SimpleNamespace(**members))
            for entry_name, form in forms.items():       # every entry private again
                onnxcore.ENTRIES[entry_name].private = form
            frontend._schema_defaults.cache_clear()
            result["runs"].append({"reports": reports(), "private": private(), "calls": len(calls)})
        onnxcore._native = real
    print(json.dumps(result))
"""


def _reports(paths: list[str], mode: str, variants: list | None = None) -> dict:
    """``analyze(path).to_dict()`` (or the error line) for each path, in a fresh process:
    ``private`` never imports the onnx package before analysing, ``public`` imports it
    first (onnx's public API throughout), ``patched`` takes the private path with one
    binding entry point missing or changed per variant."""
    request = {"paths": paths, "mode": mode, "variants": variants or []}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_REPORTS)], input=json.dumps(request),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _corpus_sample(tmp_path, every: int) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases
        cases = collect_testcases()
    paths = []
    for i, case in enumerate(cases[::every]):
        path = tmp_path / f"{i:04d}_{case.name}.onnx"
        onnx.save_model(case.model, str(path))
        paths.append(str(path))
    return paths


def _special_models(tmp_path) -> list[str]:
    """Shape arithmetic to fold, local functions, a file read around its payloads, bad files."""
    scale = helper.make_function("local", "Scale", ["a", "b"], ["c"],
                                 [helper.make_node("MatMul", ["a", "b"], ["m"]),
                                  helper.make_node("Relu", ["m"], ["c"])], [helper.make_opsetid("", 17)])
    calls = [helper.make_node("Scale", ["x", "W"], ["h"], domain="local"),
             helper.make_node("Scale", ["h", "W"], ["y"], domain="local")]
    graph = helper.make_graph(calls, "fn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones((16, 16), np.float32), "W")])
    functions = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("local", 1)])
    functions.functions.append(scale)
    big = helper.make_graph([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], "big",
                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1100])],
                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4096])],
                            [numpy_helper.from_array(np.ones((4096, 1100), np.float32), "W"),
                             numpy_helper.from_array(np.ones(4096, np.float32), "b")])
    models = {"chunk": chunk_model(), "functions": functions,
              "big": helper.make_model(big, opset_imports=[helper.make_opsetid("", 17)])}
    paths = []
    for name, model in models.items():
        onnx.save_model(model, str(tmp_path / f"{name}.onnx"))
        paths.append(str(tmp_path / f"{name}.onnx"))
    good = (tmp_path / "chunk.onnx").read_bytes()
    (tmp_path / "truncated.onnx").write_bytes(good[: len(good) // 2])
    (tmp_path / "random.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    return paths + [str(tmp_path / "truncated.onnx"), str(tmp_path / "random.onnx"),
                    str(tmp_path / "absent.onnx")]


def _assert_same_reports(paths: list[str]) -> list:
    """The same report, number for number and note for note, or the same error line,
    through the private path and through onnx's public API."""
    public = _reports(paths, "public")
    assert public["private"] == public["private_after"] == []
    private = _reports(paths, "private")
    assert private["private"] == private["private_after"] == sorted(onnxcore.ENTRIES)
    for path, got, expected in zip(paths, private["reports"], public["reports"], strict=True):
        assert got == expected, path
    return private["reports"]


def test_zoo_reports_without_the_package_equal_those_with_it(zoo_model):
    _assert_same_reports([zoo_model])


def test_corpus_and_special_reports_without_the_package_equal_those_with_it(tmp_path):
    """Every 6th operator test case of the wheel, and the special models."""
    special = _special_models(tmp_path)
    assert (tmp_path / "big.onnx").stat().st_size > 16 * 2**20      # read by protoscan
    paths = special + _corpus_sample(tmp_path, every=6)
    assert len(paths) > 300
    lite = _assert_same_reports(paths)
    assert isinstance(lite[paths.index(str(tmp_path / "random.onnx"))], str)


#: every private entry point: (part of the C++ binding, its name, the entry that calls it)
_BINDINGS = [("checker", "check_model", "check_model"),
             ("shape_inference", "infer_shapes", "infer_shapes"),
             ("inliner", "inline_local_functions", "inline_local_functions"),
             ("defs", "schema_version_map", "onnx_opset_version"),
             ("defs", "get_schema", "get_schema")]
_CHANGES = ["missing", "signature", "raising", "returns"]


def test_a_private_entry_point_missing_or_changed_falls_back_to_the_public_api(tmp_path):
    """Each binding entry point deleted, given another signature, raising, or returning
    another type: that entry switches to onnx's public function at its first call, for good
    (the changed form is called once at most), the others stay private, and every report
    equals the public API's, number for number and note for note. The models pass and fail
    the checker and shape inference, carry local functions and unknown operators."""
    paths = _special_models(tmp_path) + _corpus_sample(tmp_path, every=60)
    public = _reports(paths, "public")["reports"]
    assert sum(isinstance(r, str) for r in public) >= 3 and sum(isinstance(r, dict) for r in public) > 25
    variants = [(part, name, change) for part, name, _ in _BINDINGS for change in _CHANGES]
    runs = _reports(paths, "patched", variants)["runs"]
    assert len(runs) == len(variants) == 20
    for (part, name, change), run in zip(variants, runs, strict=True):
        entry = next(e for p, n, e in _BINDINGS if (p, n) == (part, name))
        assert run["private"] == sorted(set(onnxcore.ENTRIES) - {entry}), (name, change)
        assert run["calls"] == (0 if change == "missing" else 1), (name, change)
        for path, got, expected in zip(paths, run["reports"], public, strict=True):
            assert got == expected, (name, change, path)


# --------------------------------------------------------------------------- pieces

_PLAIN = [np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint16, np.uint8,
          np.bool_, np.uint32, np.uint64]


@pytest.mark.parametrize("dtype", _PLAIN, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed_field"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3)])
def test_tensor_values_equal_numpy_helper(dtype, raw, shape):
    rng = np.random.default_rng(7)
    array = (rng.standard_normal(shape) * 100).astype(dtype) if dtype != np.bool_ else \
        rng.standard_normal(shape) > 0
    t = numpy_helper.from_array(np.asarray(array), "t")
    if not raw:                  # the same values in the element type's typed field
        t = helper.make_tensor("t", t.data_type, shape, np.asarray(array).ravel().tolist())
    expected = tuple(numpy_helper.to_array(t).ravel().tolist())
    got = onnxcore.tensor_values(t, int(np.prod(shape)))
    assert got == expected and [type(v) for v in got] == [type(v) for v in expected]


def test_tensor_values_of_other_types_go_through_numpy_helper():
    t = numpy_helper.from_array(np.array([1.5, -2.0], np.float16), "h")
    assert onnxcore.tensor_values(t, 2) == (1.5, -2.0)


@pytest.mark.parametrize("stored", [3, 5])
def test_tensor_values_refuse_a_payload_of_the_wrong_size(stored):
    t = numpy_helper.from_array(np.arange(stored, dtype=np.int64), "t")
    with pytest.raises(ValueError, match="'t' holds"):
        onnxcore.tensor_values(t, 4)
    typed = helper.make_tensor("t", TensorProto.INT64, [stored], list(range(stored)))
    with pytest.raises(ValueError, match="'t' holds"):
        onnxcore.tensor_values(typed, 4)


def test_attribute_value_matches_helper_for_every_kind():
    attrs = [helper.make_attribute("f", 0.5), helper.make_attribute("i", 3),
             helper.make_attribute("s", b"abc"), helper.make_attribute("fs", [1.0, 2.0]),
             helper.make_attribute("is", [1, 2]), helper.make_attribute("ss", [b"a", b"b"]),
             helper.make_attribute("t", numpy_helper.from_array(np.ones(2, np.float32))),
             helper.make_attribute("g", helper.make_graph([], "g", [], []))]
    for a in attrs:
        assert onnxcore.attribute_value(a) == helper.get_attribute_value(a), a.name
    ref = onnx.AttributeProto(name="alpha", ref_attr_name="a", type=onnx.AttributeProto.FLOAT)
    with pytest.raises(ValueError, match="refers to a function attribute"):
        onnxcore.attribute_value(ref)


def test_schema_defaults_match_the_package():
    expected = {name: helper.get_attribute_value(a.default_value)
                for name, a in onnx.defs.get_schema("LeakyRelu", 16).attributes.items()
                if a.default_value.type}
    got = {name: onnxcore.attribute_value(a) for name, a in onnxcore.schema_defaults("LeakyRelu", 16, "")}
    assert got == expected == {"alpha": pytest.approx(0.01)}
    with pytest.raises(onnxcore.SchemaError):
        onnxcore.schema_defaults("NoSuchOp", 17, "")


def test_value_info_matches_helper_bytes_for_bytes():
    for shape in [(), (1, 3, 224, 224), ("N", 3, None)]:
        expected = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
        assert onnxcore.value_info("x", TensorProto.FLOAT, shape).SerializeToString() == \
            expected.SerializeToString()
    assert onnxcore.opset("custom", 1) == helper.make_opsetid("custom", 1)


def test_parse_model_refuses_what_onnx_load_refuses():
    data = helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString()
    assert onnxcore.parse_model(data) == onnx.load_model_from_string(data)
    broken = data[:-3] + b"\xff\xff\xff"
    with pytest.raises(Exception) as theirs:
        onnx.load_model_from_string(broken)
    with pytest.raises(type(theirs.value)):
        onnxcore.parse_model(broken)


def test_version_names_the_installed_onnx():
    assert onnxcore.version() == onnx.__version__
