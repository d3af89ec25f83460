"""ATen backward ops -> flopscope's gradient ops (costed by :mod:`flopscope.rules.backward`).

``backward()`` runs these ATen ops besides the ones a forward also uses (``mm``, ``bmm``,
``sum``, ``mul``...). Each maps onto one node of the ``ai.flopscope`` domain whose inputs
are the incoming gradient and the tensors the formula reads; what autograd asked for
(``output_mask``) travels as an attribute, so only the gradients computed are costed.
Importing this module declares the mappings (through :func:`flopscope.frontends.aten.handles`).
"""

from __future__ import annotations

from flopscope.frontends.aten import Call, Emit, Handler, handles
from flopscope.graph import FLOPSCOPE_DOMAIN


def _mask(call: Call) -> tuple[int, ...]:
    return tuple(int(bool(m)) for m in call.args.get("output_mask", (True, True, True)))


@handles("convolution_backward")
def _conv_backward(call: Call) -> list[Emit]:
    a = call.args
    attrs = {"output_mask": _mask(call), "transposed": int(bool(a.get("transposed"))),
             "group": int(a.get("groups", 1))}
    return [Emit("ConvGrad", [call.t("grad_output"), call.t("input"), call.t("weight")],
                 call.outputs, attrs, domain=FLOPSCOPE_DOMAIN)]


@handles("native_batch_norm_backward")
def _batch_norm_backward(call: Call) -> list[Emit]:
    attrs = {"output_mask": _mask(call), "training": int(bool(call.args.get("train", True)))}
    return [Emit("BatchNormGrad", [call.t("grad_out"), call.t("input"), call.t("weight")],
                 call.outputs, attrs, domain=FLOPSCOPE_DOMAIN)]


@handles("native_layer_norm_backward")
def _layer_norm_backward(call: Call) -> list[Emit]:
    return [Emit("LayerNormGrad", [call.t("grad_out"), call.t("input"), call.t("weight")],
                 call.outputs, {"output_mask": _mask(call)}, domain=FLOPSCOPE_DOMAIN)]


def _grad(op: str, *keys: str) -> Handler:
    """Declare ``aten_name`` -> ``op`` reading the tensor arguments ``keys``."""

    def handler(call: Call) -> list[Emit]:
        attrs = {"variant": str(call.args["approximate"])} if "approximate" in call.args else {}
        return [Emit(op, [call.t(k) for k in keys], call.outputs, attrs, domain=FLOPSCOPE_DOMAIN)]

    return handler


handles("threshold_backward")(_grad("ReluGrad", "grad_output", "self"))
handles("hardtanh_backward")(_grad("HardtanhGrad", "grad_output", "self"))
handles("leaky_relu_backward")(_grad("LeakyReluGrad", "grad_output", "self"))
handles("sigmoid_backward")(_grad("SigmoidGrad", "grad_output", "output"))
handles("tanh_backward")(_grad("TanhGrad", "grad_output", "output"))
handles("silu_backward")(_grad("SiluGrad", "grad_output", "self"))
handles("gelu_backward")(_grad("GeluGrad", "grad_output", "self"))
handles("native_dropout_backward")(_grad("DropoutGrad", "grad_output", "mask"))
handles("_softmax_backward_data")(_grad("SoftmaxGrad", "grad_output", "output"))
handles("_log_softmax_backward_data")(_grad("LogSoftmaxGrad", "grad_output", "output"))
handles("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward")(
    _grad("MaxPoolGrad", "grad_output", "self"))
handles("avg_pool2d_backward", "avg_pool3d_backward", "_adaptive_avg_pool2d_backward",
        "_adaptive_avg_pool3d_backward")(_grad("AvgPoolGrad", "grad_output", "self"))
handles("embedding_dense_backward")(_grad("EmbeddingGrad", "grad_output", "indices"))


@handles("select_backward", "slice_backward", "as_strided_backward", "diagonal_backward")
def _placed(call: Call) -> list[Emit]:
    """The gradient of a view written into zeros of the input's shape: movement, no FLOPs
    (an ``Identity`` from the incoming gradient to the grad-input)."""
    return [Emit("Identity", [call.t("grad_output")], call.outputs)]


@handles("_scaled_dot_product_flash_attention_for_cpu_backward",
         "_scaled_dot_product_flash_attention_backward",
         "_scaled_dot_product_efficient_attention_backward")
def _attention_backward(call: Call) -> list[Emit]:
    """Fused attention's backward: grads of Q, K and V, the scores recomputed."""
    return [Emit("AttentionGrad", [call.t("grad_out"), call.t("query"), call.t("key"),
                                   call.t("value")], call.outputs, domain=FLOPSCOPE_DOMAIN)]
