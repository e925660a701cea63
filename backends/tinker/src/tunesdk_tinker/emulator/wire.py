"""The protobuf payloads the official client uses, read and written with its own schema.

The client sends ``forward_backward`` as a protobuf ``ForwardBackwardRequest`` and accepts
``ForwardBackwardOutput`` and ``SampleResponse`` results only as protobuf; everything else is
JSON. The message classes come from ``tinker.proto.tinker_public_pb2``, the schema the client
ships, so the server reads exactly the bytes the client writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tinker.proto import tinker_public_pb2 as pb

from tunesdk_tinker.emulator.errors import BadRequest

_NUMPY = {
    pb.DTYPE_FLOAT32: np.float32,
    pb.DTYPE_INT64: np.int64,
    pb.DTYPE_INT32: np.int32,
}


@dataclass
class Datum:
    """One training example: its input tokens and named loss inputs (flat numpy arrays)."""

    tokens: list[int]
    inputs: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ForwardBackward:
    model_id: str
    seq_id: int
    loss_fn: str
    forward_only: bool
    config: dict[str, float | str]
    data: list[Datum]


def read_forward_backward(body: bytes) -> ForwardBackward:
    """Decode a ``ForwardBackwardRequest``; BadRequest for bytes that are not one."""
    message = pb.ForwardBackwardRequest()
    try:
        message.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError
        raise BadRequest(
            f"forward_backward: the body is not a ForwardBackwardRequest ({exc})"
        ) from None
    config: dict[str, float | str] = {k: float(v) for k, v in message.loss_fn_config.items()}
    for key, value in message.loss_fn_config_v2.items():
        config[key] = value.text if value.WhichOneof("value") == "text" else float(value.number)
    data = [
        Datum(_tokens(datum, index), {k: _tensor(v, k) for k, v in datum.loss_fn_inputs.items()})
        for index, datum in enumerate(message.data)
    ]
    return ForwardBackward(
        message.model_id, message.seq_id, message.loss_fn, message.forward_only, config, data
    )


def _tokens(datum: Any, index: int) -> list[int]:
    tokens: list[int] = []
    for chunk in datum.model_input:
        kind = chunk.WhichOneof("chunk")
        if kind != "encoded_text":
            raise BadRequest(
                f"datum {index}: {kind} chunks are not supported by the offline server "
                "(text models only); send token chunks (ModelInput.from_ints)"
            )
        tokens.extend(np.frombuffer(chunk.encoded_text.tokens, dtype=np.int32).tolist())
    return tokens


def _tensor(message: Any, name: str) -> np.ndarray:
    dtype = _NUMPY.get(message.dtype)
    if dtype is None:
        raise BadRequest(f"loss input {name!r}: unsupported dtype {message.dtype}")
    if message.WhichOneof("encoding") == "sparse_csr":
        raise BadRequest(
            f"loss input {name!r}: sparse tensors are not supported by the offline server; "
            "send it dense"
        )
    return np.frombuffer(message.dense, dtype=dtype).copy()


def forward_backward_output(
    outputs: Sequence[dict[str, np.ndarray]], metrics: dict[str, float]
) -> bytes:
    """Encode per-datum float32 outputs (``logprobs``, ``elementwise_loss``) and the metrics."""
    record = pb.ArrayRecord(type_tag="ArrayRecord", num_datums=len(outputs))
    for name in outputs[0] if outputs else []:
        arrays = [np.asarray(out[name], dtype=np.float32).ravel() for out in outputs]
        offsets = np.cumsum([0] + [a.nbytes for a in arrays]).astype(np.int64)
        record.fields[name].CopyFrom(
            pb.BatchedTensor(
                data=b"".join(a.tobytes() for a in arrays),
                offsets=offsets.tobytes(),
                dtype=pb.DTYPE_FLOAT32,
            )
        )
    message = pb.ForwardBackwardOutput(
        loss_fn_output_type="ArrayRecord", loss_fn_outputs=[record], metrics=metrics
    )
    return message.SerializeToString()


@dataclass
class SampledSequence:
    tokens: list[int]
    logprobs: list[float]
    stopped: bool  # True: a stop token or string ended it; False: max_tokens did


def sample_response(
    sequences: Sequence[SampledSequence], prompt_logprobs: list[float] | None
) -> bytes:
    """Encode sampled sequences (with logprobs) and, when asked, the prompt's logprobs."""
    message = pb.SampleResponse()
    for seq in sequences:
        message.sequences.add(
            stop_reason=pb.STOP_REASON_STOP if seq.stopped else pb.STOP_REASON_LENGTH,
            tokens=np.asarray(seq.tokens, dtype=np.int32).tobytes(),
            logprobs=np.asarray(seq.logprobs, dtype=np.float32).tobytes(),
        )
    if prompt_logprobs is not None:
        message.prompt_logprobs = np.asarray(prompt_logprobs, dtype=np.float32).tobytes()
    return message.SerializeToString()


__all__ = [
    "Datum",
    "ForwardBackward",
    "SampledSequence",
    "forward_backward_output",
    "read_forward_backward",
    "sample_response",
]
