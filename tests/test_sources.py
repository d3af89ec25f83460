"""flopscope.sources: what MODEL names, and the inputs it runs on, normalised once."""

from __future__ import annotations

import os
import subprocess
import sys

import onnx
import pytest

from flopscope.analysis import analyze
from flopscope.budget import parse_budget
from flopscope.errors import FlopscopeError
from flopscope.sources import (
    CATALOG,
    FACTORY,
    KINDS,
    MODULE,
    ONNX_FILE,
    PROTO,
    Inputs,
    Source,
    factory_spec,
    merge_inputs,
    name_unnamed,
    parse_dims,
    parse_input_shapes,
    parse_shape,
    rebase,
    resolve,
    same_model,
    with_batch,
)
from tests.builders import model_of, single_node, weight

FACTORY_FILE = '''
import torch

def with_inputs():
    return torch.nn.Linear(4, 2), (1, 4)

def bare():
    return torch.nn.Linear(4, 2)

def not_a_module():
    return 42

layer = torch.nn.Linear(3, 1)
'''


@pytest.fixture
def nets(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(FACTORY_FILE)
    return path


def matmul(rows: int = 1) -> onnx.ModelProto:
    """x (rows x 4) @ w (4 x 2): rows * 4 * 2 MACs."""
    return single_node("MatMul", {"x": (rows, 4), "w": weight(4, 2)})


def refused(call, *args, **kwargs) -> str:
    """The one-line message of the FlopscopeError ``call`` raises."""
    with pytest.raises(FlopscopeError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


# --------------------------------------------------------------------------- each kind


@pytest.mark.parametrize("spec", ["nets/yolo.onnx", "NETS/YOLO.ONNX", "C:/models/yolo.onnx"])
def test_onnx_paths_are_onnx_files_without_being_read(spec):
    source = resolve(spec)
    assert (source.kind, source.spec, source.path.as_posix(), source.target) == (
        ONNX_FILE, spec, spec, spec)
    assert source.is_onnx and source.name == source.path.stem


def test_an_existing_file_of_another_suffix_is_an_onnx_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"")
    assert resolve(path) == Source(ONNX_FILE, str(path), path)


def test_a_model_proto_is_its_own_target():
    proto = matmul()
    source = resolve(proto)
    assert (source.kind, source.name, source.is_onnx) == (PROTO, "g", True)
    assert source.target is proto
    proto.graph.name = ""
    assert resolve(proto).name == "model"


def test_a_reference_name_is_the_catalog():
    source = resolve("resnet18")
    assert source == Source(CATALOG, "resnet18") and source.name == "resnet18"
    assert not source.is_onnx


def test_a_reference_architecture_builds_on_meta_without_weights():
    pytest.importorskip("torch")
    module, shape = resolve("resnet18").build(weights=False)
    assert shape == (1, 3, 224, 224)
    assert {p.device.type for p in module.parameters()} == {"meta"}
    assert sum(p.numel() for p in module.parameters()) == 11_689_512


def test_a_factory_spec_names_its_file_and_function(nets):
    pytest.importorskip("torch")
    source = resolve(f"{nets}:with_inputs")
    assert (source.kind, source.path, source.factory, source.name) == (FACTORY, nets, "with_inputs",
                                                                         "with_inputs")
    module, inputs = source.build()
    assert type(module).__name__ == "Linear" and inputs == (1, 4)
    assert resolve(f"{nets}:bare").build()[1] is None
    module, inputs = resolve(f"{nets}:layer").build()      # a module, not a function
    assert module.in_features == 3 and inputs is None


def test_a_module_is_itself():
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(4, 2)
    source = resolve(net)
    assert (source.kind, source.name) == (MODULE, "Linear") and source.build() == (net, None)
    assert resolve(source) is source


def test_resolving_imports_neither_torch_nor_onnx():
    code = ("import sys; from flopscope.sources import resolve; "
            "print([resolve(m).kind for m in ('resnet18', 'm.onnx', 'n.py:f')]); "
            "assert 'torch' not in sys.modules and 'onnx' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "['catalog', 'onnx', 'factory']"


def test_kinds_are_the_documented_ones():
    assert KINDS == ("onnx", "proto", "catalog", "factory", "module", "hf")


def test_factory_spec():
    assert factory_spec("a/b.py:make") == ("a/b.py", "make")
    assert factory_spec("C:/nets/b.py:make") == ("C:/nets/b.py", "make")
    assert factory_spec("resnet50") is None and factory_spec("m.onnx") is None
    assert factory_spec("b.txt:make") is None


# --------------------------------------------------------------------------- bad specs


def test_an_unknown_word_is_one_line_naming_the_catalog():
    message = refused(resolve, "resnet5")
    assert "'resnet5' is not a file, a path/to/file.py:factory spec, nor a reference" in message
    assert "resnet50" in message


def test_an_unknown_name_gets_did_you_mean():
    assert "(did you mean 'resnet50' or " in refused(resolve, "resnet05")
    assert "(did you mean 'mobilenet_v2'?)" in refused(resolve, "mobilenet")
    assert "did you mean" not in refused(resolve, "transformer")
    assert "'flopscope models'" in refused(resolve, "transformer")


def test_an_object_that_is_no_model_is_one_line():
    assert refused(resolve, 42) == ("cannot analyse a int: pass an nn.Module, an .onnx path, a "
                                    "reference architecture name or path/to/file.py:factory")


def test_an_onnx_model_does_not_build_as_pytorch():
    assert "an ONNX model, not a PyTorch one" in refused(resolve("m.onnx").build)


@pytest.mark.parametrize("factory, needle", [
    ("not_a_module", "the factory returned int, not a torch.nn.Module"),
    ("absent", "has no 'absent'"),
])
def test_bad_factories_are_one_line(nets, factory, needle):
    pytest.importorskip("torch")
    assert needle in refused(resolve(f"{nets}:{factory}").build)


def test_a_missing_factory_file_is_one_line(tmp_path):
    spec = f"{tmp_path / 'gone.py'}:net"
    assert refused(resolve(spec).build) == f"{tmp_path / 'gone.py'}: no such file (model spec '{spec}')"


# --------------------------------------------------------------------------- inputs


def test_inputs_not_in_a_dict_are_the_unnamed_input():
    assert merge_inputs((1, 3)) == Inputs((1, 3), {})
    assert merge_inputs([(1, 3), (1, 5)]) == Inputs([(1, 3), (1, 5)], {})
    assert merge_inputs(None, {"": (1, 3)}) == Inputs((1, 3), {})
    assert merge_inputs({"": (1, 3), "m": (2,)}) == Inputs((1, 3), {"m": (2,)})
    assert merge_inputs().empty and not merge_inputs((1,)).empty


def test_the_unnamed_input_is_given_once():
    message = refused(merge_inputs, (1, 3), {"": (2, 3)})
    assert message == "give input shapes once (an unnamed --input-shape and inputs)"
    refused(merge_inputs, {"": (1, 3)}, {"": (2, 3)})


def test_input_shapes_win_over_inputs_of_the_same_name():
    given = merge_inputs({"x": (1, 4), "m": (1,)}, {"x": (3, 4)})
    assert given == Inputs(None, {"x": (3, 4), "m": (1,)})
    assert merge_inputs(given) is given                     # merged once, passed on as it is
    assert merge_inputs(given, {"m": (2,)}).named == {"x": (3, 4), "m": (2,)}
    assert given.by_name() == {"x": (3, 4), "m": (1,)}
    assert merge_inputs((1, 4), {"m": (2,)}).by_name() == {"": (1, 4), "m": (2,)}


def test_the_unnamed_shape_is_an_onnx_models_only_input():
    assert name_unnamed({"": (2, 4)}, ["x"]) == {"x": (2, 4)}
    assert name_unnamed({"x": (2, 4)}, ["x", "y"]) == {"x": (2, 4)}
    message = refused(name_unnamed, {"": (2, 4)}, ["x", "y"])
    assert message == "the model has 2 inputs (x, y); name them: --input-shape NAME=1x3x224x224"


def test_onnx_analysis_takes_the_merged_inputs():
    # x is 1 x 4 in the file; 3 rows bound -> 3 * 4 * 2 = 24 MACs
    assert analyze(matmul(), (3, 4)).totals.macs == 24
    assert analyze(matmul(), input_shapes={"": (3, 4)}).totals.macs == 24
    assert analyze(matmul(), {"x": (5, 4)}, input_shapes={"x": (3, 4)}).totals.macs == 24
    two = model_of([onnx.helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (1, 4), "w": (4, 2)},
                   ["y"])
    assert "name them" in refused(analyze, two, (3, 4))


def test_pytorch_analysis_takes_the_merged_inputs():
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(4, 2, bias=False)         # rows * 4 * 2 MACs
    assert analyze(net, (3, 4)).totals.macs == 24
    assert analyze(net, input_shapes={"": (3, 4)}).totals.macs == 24
    assert analyze(net, {"input": (5, 4)}, input_shapes={"input": (3, 4)}).totals.macs == 24
    refused(analyze, net, (5, 4), input_shapes={"": (3, 4)})


def test_module_arguments_are_public_for_export():
    torch = pytest.importorskip("torch")
    from flopscope.frontends.torch import arguments

    args, kwargs, names = arguments(torch.nn.Linear(4, 2), merge_inputs((3, 4)), None,
                                    torch.device("meta"))
    assert [tuple(a.shape) for a in args] == [(3, 4)] and kwargs == {} and names == ["input"]


def test_with_batch_sets_each_shapes_leading_dim():
    assert with_batch((1, 3, 8, 8), 4) == (4, 3, 8, 8)
    assert with_batch([(1, 2), (1, 5)], 2) == [(2, 2), (2, 5)]
    assert with_batch(Inputs((1, 2), {"m": (1, 7)}), 3) == Inputs((3, 2), {"m": (3, 7)})
    assert "--batch needs the inputs as shapes" in refused(with_batch, object(), 2)


# --------------------------------------------------------------------------- budget files


def test_relative_paths_are_rebased_on_a_budget_files_folder():
    base = os.path.join("ci", "budgets")
    assert rebase("nets/m.onnx", base) == os.path.normpath("ci/budgets/nets/m.onnx")
    assert rebase("../m.py:build", base) == f"{os.path.normpath('ci/m.py')}:build"
    assert rebase("resnet18", base) == "resnet18"
    assert rebase(os.path.abspath("m.onnx"), base) == os.path.abspath("m.onnx")
    assert rebase("nets/m.onnx", "") == "nets/m.onnx"
    assert resolve("nets/m.py:build", base_dir=base).path == resolve(rebase("nets/m.py:build", base)).path


def test_a_budget_entry_names_its_model_relative_to_the_file(tmp_path):
    data = {"models": {"det": {"model": "nets/det.py:build", "max_macs": 1},
                       "cls": {"model": "resnet18", "max_macs": 1}}}
    budget = parse_budget(data, path=str(tmp_path / "flopscope.toml"), base_dir=str(tmp_path))
    det, cls = budget.models
    assert det.model == f"{tmp_path / 'nets' / 'det.py'}:build" and cls.model == "resnet18"
    assert resolve(det.model).path == tmp_path / "nets" / "det.py"
    assert budget.select(f"{tmp_path}/nets/../nets/det.py:build") == [det]


def test_same_model_compares_files_not_text():
    assert same_model("a/../m.onnx", "m.onnx") and same_model("./m.py:f", "m.py:f")
    assert not same_model("m.py:f", "m.py:g") and not same_model("m.onnx", "n.onnx")


def test_the_library_never_imports_the_cli():
    code = ("import sys; from flopscope.budget import parse_budget; "
            "parse_budget({'models': {'m': {'input_shape': '1x3', 'max_macs': 1}}}); "
            "assert not [m for m in sys.modules if m.startswith('flopscope.commands')]")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- text forms


def test_parse_shape():
    assert parse_shape("1x3x224x224") == (1, 3, 224, 224) and parse_shape("1,3") == (1, 3)
    assert parse_shape("") == () == parse_shape("scalar")
    assert refused(parse_shape, "1xa") == "bad shape '1xa': write sizes joined by x, e.g. 1x3x224x224"
    assert refused(parse_shape, "1x-3") == "bad shape '1x-3': sizes must be >= 0"


def test_parse_input_shapes():
    assert parse_input_shapes(["x=1x3", "ids=1x128:int64", "2x2"]) == {
        "x": (1, 3), "ids": ((1, 128), "int64"), "": (2, 2)}
    assert parse_input_shapes(None) == {}


@pytest.mark.parametrize("item", ["N", "=8", "N=-1", "N=x"])
def test_parse_dims_refuses_what_is_not_name_equals_size(item):
    assert refused(parse_dims, [item]) == f"bad --dim '{item}': write NAME=SIZE, e.g. N=8"


def test_parse_dims():
    assert parse_dims(["N=8", "T=0"]) == {"N": 8, "T": 0} and parse_dims(None) == {}


# --------------------------------------------------------------------------- an ONNX file of any source


def test_an_onnx_file_of_each_kind(tmp_path):
    from flopscope.export import onnx_file

    with onnx_file("nets/m.onnx") as path:
        assert path.as_posix() == "nets/m.onnx"
    with onnx_file(matmul()) as path:
        assert onnx.load(path).graph.node[0].op_type == "MatMul"
    assert not path.exists()


def test_a_pytorch_source_is_exported_with_its_batch():
    torch = pytest.importorskip("torch")
    from flopscope.export import onnx_file

    with onnx_file(torch.nn.Linear(4, 2), merge_inputs(input_shapes={"": (1, 4)}), batch=6) as path:
        dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_value for d in dims] == [6, 4]
    assert not path.exists()
    assert "give the input shapes" in refused(onnx_file(torch.nn.Linear(4, 2)).__enter__)
