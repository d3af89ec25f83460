"""The per-element FLOP table: anchors, derivations, read-only default, scoped overrides."""

from __future__ import annotations

import threading

import pytest

from flopscope.graph import Node, Tensor
from flopscope.rules import Cost, constants, elementwise, get_rule, registry, supported_ops
from flopscope.rules.constants import FLOPS_PER_ELEMENT, overridden, per_element


def test_the_notes_anchors():
    assert FLOPS_PER_ELEMENT["Relu"] == 1
    assert FLOPS_PER_ELEMENT["Sigmoid"] == 4
    assert FLOPS_PER_ELEMENT["BatchNormalization"] == 2


def test_one_flop_primitives():
    for op in ("Add", "Sub", "Mul", "Div", "Exp", "Log", "Sqrt", "Erf", "Pow", "Equal", "Less",
               "Greater", "Abs", "Neg", "Where"):
        assert FLOPS_PER_ELEMENT[op] == 1, op


def test_composite_prices_follow_their_derivations():
    t = FLOPS_PER_ELEMENT
    assert t["HardSwish"] == t["HardSigmoid"] + 1          # then multiply by x
    assert t["Swish"] == t["Sigmoid"] + 1
    assert t["Mish"] == t["Softplus"] + t["Tanh"] + 1
    assert t["Gelu"] == 5 and t["Gelu.tanh"] == 9
    assert t["Tanh"] == 5 and t["Softplus"] == 3 and t["Softsign"] == 3
    assert t["Elu"] == 4 and t["Selu"] == 5 and t["Celu"] == 5
    assert t["DequantizeLinear"] == 2 and t["QuantizeLinear"] == 5


def test_every_price_is_a_non_negative_int():
    for key, value in FLOPS_PER_ELEMENT.items():
        assert type(value) is int and value >= 0, key


def test_every_entry_prices_a_registered_op():
    extra = {"Gelu.tanh"}                                  # Gelu's approximate='tanh' form
    assert set(FLOPS_PER_ELEMENT) - extra <= set(supported_ops())


def test_every_table_priced_elementwise_rule_has_an_entry():
    for op in supported_ops():
        name = get_rule(op).__name__
        if name.startswith(("elementwise_", "variadic_")):
            assert op in FLOPS_PER_ELEMENT, op


def test_price_only_ops_are_registered_from_the_table_alone():
    """The table is the one list of plain per-element ops: every entry no family module
    gave a rule of its own is registered from it, with its price per output element."""
    priced = {op for op in supported_ops() if get_rule(op).__name__.startswith("elementwise_")}
    own_rule = {op for op in FLOPS_PER_ELEMENT if "." not in op} - priced
    assert own_rule == {"Swish", "Gelu", "Clip", "Sum", "Max", "Min", "Mean", "BatchNormalization"}
    assert elementwise.register_priced() == []             # done once, on import
    x = (Tensor("x", (2, 3), "float32"),)
    for op in priced:
        node = Node("n", op, x, (Tensor("y", (2, 3), "float32"),))
        assert get_rule(op)(node) == Cost(flops=FLOPS_PER_ELEMENT[op] * 6), op


def test_a_new_table_entry_is_a_new_op(monkeypatch):
    table = {**FLOPS_PER_ELEMENT, "Frobnicate": 3}
    monkeypatch.setattr(elementwise, "FLOPS_PER_ELEMENT", table)
    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))
    assert elementwise.register_priced() == ["Frobnicate"]
    node = Node("f", "Frobnicate", (Tensor("x", (4, 5), "float32"),), (Tensor("y", (4, 5), "float32"),))
    token = constants._active.set(table)
    try:
        assert get_rule("Frobnicate")(node) == Cost(flops=3 * 20)
    finally:
        constants._active.reset(token)


def test_default_table_is_read_only():
    with pytest.raises(TypeError):
        FLOPS_PER_ELEMENT["Relu"] = 2                      # type: ignore[index]
    assert per_element("Relu") == 1


def test_per_element_unknown_op_raises():
    with pytest.raises(KeyError):
        per_element("NotAnOp")


def test_overrides_nest_and_restore():
    with overridden({"Relu": 2}):
        with overridden({"Sigmoid": 1}) as inner:
            assert (per_element("Relu"), per_element("Sigmoid")) == (2, 1)
            assert inner["Relu"] == 2
        assert (per_element("Relu"), per_element("Sigmoid")) == (2, 4)
    assert (per_element("Relu"), per_element("Sigmoid")) == (1, 4)


@pytest.mark.parametrize("empty", [None, {}])
def test_empty_override_yields_the_active_table(empty):
    with overridden(empty) as table:
        assert table["Sigmoid"] == 4
    with overridden({"Sigmoid": 7}), overridden(empty) as table:
        assert table["Sigmoid"] == 7


def test_override_is_restored_after_an_exception():
    with pytest.raises(RuntimeError):
        with overridden({"Relu": 9}):
            raise RuntimeError("boom")
    assert per_element("Relu") == 1


def test_override_does_not_touch_the_default_mapping():
    with overridden({"Relu": 9}) as table:
        assert table["Relu"] == 9
        assert FLOPS_PER_ELEMENT["Relu"] == 1
        with pytest.raises(TypeError):
            table["Relu"] = 3                              # type: ignore[index]


def test_override_is_local_to_its_thread():
    seen = []
    with overridden({"Relu": 9}):
        worker = threading.Thread(target=lambda: seen.append(per_element("Relu")))
        worker.start()
        worker.join()
        assert per_element("Relu") == 9
    assert seen == [1]


def test_unknown_key_error_lists_the_known_keys():
    with pytest.raises(ValueError) as info:
        with overridden({"relu": 1}):
            pass
    assert "unknown entries in FLOP table: relu" in str(info.value)
    assert "Relu" in str(info.value) and "Sigmoid" in str(info.value)
