"""Hugging Face models from their ``config.json``: the architecture, on the meta device,
and the example inputs its type takes. No weight is downloaded, read or allocated.

``hf:ID_OR_FOLDER`` names a model by a local folder holding ``config.json`` (offline) or
by a Hub id (only ``config.json`` is fetched, where the network allows). Code from the
Hub is never run: a config that names custom classes (``auto_map``) is refused unless
``trust_remote_code`` is given. ``transformers`` is an optional extra (``pip install
flopscope[hf]``).

Inputs follow the model's main input: text models take ``input_ids`` and an all-ones
``attention_mask`` of ``seq`` tokens (encoder-decoders also ``decoder_input_ids``),
vision models ``pixel_values`` at the config's image size, speech encoders
``input_features`` of the config's mel bins and frames.

>>> example_inputs({"model_type": "bert"}, "input_ids", seq=8)["attention_mask"]
((1, 8), 'int64')
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from flopscope.errors import FlopscopeError, one_line
from flopscope.sources import HF_PREFIX, Source

#: the default sequence length of text inputs (shorter when the model has fewer positions)
DEFAULT_SEQ = 128
#: config keys that bound the sequence length, by family
_POSITION_LIMITS = ("max_position_embeddings", "n_positions", "n_ctx")


def read_config(spec: str, trust_remote_code: bool = False) -> dict[str, Any]:
    """The ``config.json`` of a local folder (or the file itself), or of a Hub id (only
    that file is fetched). A config with ``auto_map`` (custom code) is refused unless
    ``trust_remote_code``.

    >>> read_config("no/such/folder")       # doctest: +ELLIPSIS
    Traceback (most recent call last):
    flopscope.errors.FlopscopeError: hf:no/such/folder: ...
    """
    path = spec
    if os.path.isdir(spec):
        path = os.path.join(spec, "config.json")
    if not os.path.isfile(path):
        if os.path.exists(spec) or spec.startswith((".", "/")) or spec.count("/") > 1:
            raise FlopscopeError(f"hf:{spec}: no config.json there")
        path = _hub_config(spec)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        raise FlopscopeError(f"hf:{spec}: cannot read {path} ({one_line(exc)})") from None
    if not isinstance(config, dict):
        raise FlopscopeError(f"hf:{spec}: {path} is not a JSON object")
    if config.get("auto_map") and not trust_remote_code:
        raise FlopscopeError(f"hf:{spec}: the config needs custom code from the Hub (auto_map); "
                             "pass --trust-remote-code to run it")
    return config


def _hub_config(model_id: str) -> str:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise FlopscopeError(f"hf:{model_id}: not a folder, and huggingface_hub is not "
                             "installed (pip install flopscope[hf])") from None
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)     # its retry warnings: the failure is said in one line
    try:
        return str(hf_hub_download(model_id, "config.json"))
    except Exception as exc:
        raise FlopscopeError(f"hf:{model_id}: not a folder, and its config.json could not be "
                             f"fetched from the Hub ({one_line(exc, named=True)})") from None
    finally:
        hub_log.setLevel(level)


def build_source(source: Source, config: Mapping[str, Any] | None = None, *, weights: bool = False,
                 ) -> tuple[Any, dict[str, Any]]:
    """``(model, example inputs)`` of an ``hf:`` :class:`Source`, with its options
    (``seq``, ``batch``, ``trust_remote_code``): on the meta device, or with ``weights``
    randomly initialised on the CPU (for ONNX Runtime to time; nothing is downloaded);
    ``config``: build from this dict instead of the source's own (:func:`source_config`
    with values changed)."""
    config = source_config(source) if config is None else config
    return build_from_config(config, what=source.spec, weights=weights, **dict(source.options))


def source_config(source: Source) -> dict[str, Any]:
    """The config dict of an ``hf:`` :class:`Source` (read once; fetched for a Hub id)."""
    return read_config(source.spec[len(HF_PREFIX):], bool(dict(source.options).get("trust_remote_code")))


def build(spec: str, *, seq: int | None = None, batch: int = 1,
          trust_remote_code: bool = False) -> tuple[Any, dict[str, Any]]:
    """``(model on the meta device, example inputs by name)`` for ``hf:spec``."""
    config = read_config(spec, trust_remote_code)
    return build_from_config(config, seq=seq, batch=batch, trust_remote_code=trust_remote_code,
                             what=f"hf:{spec}")


def build_from_config(config: Mapping[str, Any], *, seq: int | None = None, batch: int = 1,
                      trust_remote_code: bool = False, what: str = "hf config",
                      weights: bool = False) -> tuple[Any, dict[str, Any]]:
    """The model a config dict describes (its first ``architectures`` entry, else the
    bare ``AutoModel``), built on the meta device (with ``weights``: randomly initialised
    on the CPU), and its example inputs."""
    try:
        import torch
        import transformers
    except ImportError:
        raise FlopscopeError(f"{what}: needs transformers (pip install flopscope[hf])") from None
    values = dict(config)
    model_type = values.pop("model_type", None)
    if not model_type:
        raise FlopscopeError(f"{what}: the config has no model_type")
    try:
        hf_config = transformers.AutoConfig.for_model(model_type, **values)
    except (ValueError, KeyError) as exc:
        raise FlopscopeError(f"{what}: transformers {transformers.__version__} does not know "
                             f"model_type '{model_type}' ({exc})") from None
    architectures = values.get("architectures") or []
    cls = getattr(transformers, architectures[0], None) if architectures else None
    try:
        with contextlib.nullcontext() if weights else _on_meta(torch):
            if cls is not None:
                model = cls(hf_config)
            else:
                auto: Any = transformers.AutoModel
                model = auto.from_config(hf_config, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise FlopscopeError(f"{what}: cannot build the model ({one_line(exc, named=True)})") from None
    model.eval()
    if weights:     # an export: plain tensors out, no KV cache object among the outputs
        model.config.use_cache = False
    dtype = getattr(torch, str(values.get("torch_dtype") or values.get("dtype") or ""), None)
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        model.to(dtype)      # weights in the dtype the checkpoint holds (meta: no memory)
    else:
        dtype = torch.float32
    main = getattr(model, "main_input_name", "input_ids")
    inputs = example_inputs(values | {"model_type": model_type}, main, seq=seq, batch=batch,
                            encoder_decoder=bool(getattr(hf_config, "is_encoder_decoder", False)))
    floating = str(dtype).removeprefix("torch.")
    return model, {k: (shape, floating if kind == "float32" else kind)
                   for k, (shape, kind) in inputs.items()}


@contextlib.contextmanager
def _on_meta(torch: Any) -> Iterator[None]:
    """Build on the meta device, without running weight initialisers."""
    from flopscope.sources import _skip_meta_init

    with torch.device("meta"), _skip_meta_init():
        yield


def example_inputs(config: Mapping[str, Any], main: str, *, seq: int | None = None,
                   batch: int = 1, encoder_decoder: bool = False) -> dict[str, Any]:
    """Example inputs, as ``(shape, dtype)`` pairs by name, for a model whose main input
    is ``main``.

    >>> example_inputs({"image_size": 32, "num_channels": 3}, "pixel_values")
    {'pixel_values': ((1, 3, 32, 32), 'float32')}
    >>> example_inputs({"num_mel_bins": 80, "max_source_positions": 1500}, "input_features")
    {'input_features': ((1, 80, 3000), 'float32')}
    >>> example_inputs({"max_position_embeddings": 64}, "input_ids")["input_ids"]
    ((1, 64), 'int64')
    """
    limit = next((config[k] for k in _POSITION_LIMITS if isinstance(config.get(k), int)), None)
    if seq is not None and limit is not None and seq > limit:
        raise FlopscopeError(f"--seq {seq} is longer than the model's {limit} positions")
    tokens = seq if seq is not None else min(DEFAULT_SEQ, limit or DEFAULT_SEQ)
    vision = config.get("vision_config")
    sub: Mapping[str, Any] = vision if isinstance(vision, Mapping) else config
    if main == "pixel_values":
        size = sub.get("image_size", 224)
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return {main: ((batch, sub.get("num_channels", 3), height, width), "float32")}
    if main == "input_features":
        frames = 2 * config.get("max_source_positions", 1500)
        inputs: dict[str, Any] = {main: ((batch, config.get("num_mel_bins", 80), frames), "float32")}
    elif main == "input_values":
        inputs = {main: ((batch, seq if seq is not None else 16000), "float32")}
    else:
        inputs = {main: ((batch, tokens), "int64"), "attention_mask": ((batch, tokens), "int64")}
    if encoder_decoder:
        target = config.get("max_target_positions")
        decoder = min(tokens, target) if isinstance(target, int) else tokens
        inputs["decoder_input_ids"] = ((batch, decoder), "int64")
    return inputs
