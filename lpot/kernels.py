"""lpot's int8 compute kernels (thin layer over the C engine).

Quantization follows ONNX QuantizeLinear: ``real = scale * (q - zero_point)``.
Weights are int8, symmetric, per-tensor or per-output-channel; activations
are uint8/int8 with a per-tensor scale and zero point.

- :class:`PackedLinear` / :class:`PackedConv2d` pack the weights once into
  the layout oneDNN prefers on this CPU (AMX / VNNI / AVX2 blocked).
- :func:`qlinear`, :func:`qconv2d`, :func:`qmatmul` run the int8 op;
  ``out_dtype`` is ``'float32'``, ``'uint8'``, ``'int8'`` or ``'int32'``
  (raw accumulation, as ONNX MatMulInteger / ConvInteger).
- :func:`qlinear_dynamic` quantizes float32 input on the fly.
- :func:`qembedding`, :func:`qembedding_bag`: weight-only int8 tables (one
  scale per row): gather + dequantize, and gather + dequantize + sum / mean /
  max per bag in one pass (float32 out).
- :func:`rnn_dynamic_layer`: one LSTM / GRU layer's whole time loop in C
  (GIL released): per step h is quantized to uint8 on the fly, multiplied
  with the packed recurrent weights (lpot's small-M kernel at batch <= 4),
  and the gates run on lpot's own AVX2 sigmoid/tanh (within 2.4 ulp of
  libm); the input projection of all steps is one :func:`qlinear_dynamic`.
- :func:`last_impl` says what the calling thread's last call ran (the
  oneDNN implementation such as ``'gemm:jit'`` or ``'brg:avx512_core_amx'``,
  ``'lpot:gemv_u8s8_avx2'`` / ``'lpot:gemv_avx2'`` for lpot's own small-M kernels,
  ``'lpot:gemm_u8s8_avx2'`` for lpot's own linear GEMM, ``'lpot:conv_gemm_avx2'``
  for lpot's own convolution GEMM, ``'lpot:ref'`` for the
  scalar reference, a ``'+split'`` suffix for the exact path on CPUs without
  VNNI) and the ISA oneDNN dispatches to.
- ``impl=`` on every op: ``'auto'`` (default), ``'onednn'`` (skip lpot's own
  kernels), ``'own'`` (lpot's own convolution / linear GEMM wherever it can run
  exactly, also on shapes where ``'auto'`` picks oneDNN; tests and benchmarks),
  ``'ref'`` (scalar reference, for tests).

Threads: :func:`set_num_threads(n) <set_num_threads>` with n > 0 is used
for every call of 4M multiply-adds or more (lpot's own small-M linear
kernels below: 300K or more). Left at 0 (the default), lpot
measures each primitive with one thread and with OpenMP's default team and
uses the one with the lower median of its last 8 times, re-checking the other
at most every 50 ms and at most once per 16 calls (before 2026-11-27 07:58
calls longer than 50 ms re-checked on every call, i.e. always ran the variant
measured slower): on a machine whose cores are
busy with other work, a team that waits for a descheduled member is often
several times slower than one thread. Smaller calls always run on one
thread. ``last_impl()['threads']`` says what the last call used.

Rows M <= 4 of :func:`qlinear` on CPUs without VNNI run lpot's own AVX2
kernels: for 7-bit weights (``|w| <= 64``) ``'lpot:gemv_u8s8_avx2'``
(``vpmaddubsw`` on u8 activations, s8 ones shifted by +128, then
``vpmaddwd`` with ones: 32 multiply-adds per 32 weight bytes, exact because
a pair of products cannot reach the int16 limit), for full-range weights
``'lpot:gemv_avx2'`` (int16 products with ``vpmaddwd``: exact, half the
multiply-adds per instruction). Both share the output channels among the
threads from 300K multiply-adds on (a GEMV is bound by how fast the
weights stream in, and a second core doubles that); see bench/RESULTS.md.
From 5 up to 512 rows, 7-bit weights run ``'lpot:gemm_u8s8_avx2'``: the
same packed weights, the 6x16 tile GEMM of lpot's own convolution path and
its driver (row chunks x channel groups on lpot's task pool, u8 rows with
K % 4 == 0 read in place); measured 1.0-1.9x faster than oneDNN's
``gemm:jit`` up to 512 rows (one thread) and ahead at 2 threads, a tie or
behind from about 1000 rows, where oneDNN takes over (csrc/kernels/qlinear.c,
LPOT_QLINEAR_GEMM_MAX_M). Full-range weights stay on oneDNN's exact path.

Convolutions on CPUs without VNNI: 3x3 (or larger) kernels with
KH*KW*IC >= 576 run lpot's own path, im2col (NHWC) + an AVX2 u8 x s8 GEMM
with 6x16 tiles, about 10-15% faster per core than oneDNN 3.2's direct
``jit_uni_int8:avx2`` convolution and on par with ONNX Runtime's MLAS (see
bench/RESULTS.md). Its tasks (chunks of output rows; at batch 1 also groups
of output channels, about 6 tasks per thread) run on lpot's own small thread
pool, not OpenMP: the calling thread takes tasks too, and a helper the OS
has not scheduled yet finds none left instead of holding the call up (an
OpenMP region waits for every thread: on a loaded 2-core machine a 0.7 ms
batch-1 convolution took 8 ms). The pool's helpers spin 0.2 ms after a call,
then sleep. 1x1 convolutions and those
with smaller K stay on oneDNN (measured faster there); grouped/depthwise
convolutions too. NHWC is the fast layout: NCHW input is transposed to NHWC
and the output back on every call (oneDNN's reorder primitives are cached
with the convolution, but they still run per call); lpot.nn's QuantConv2d
calls it in NHWC (channels_last memory: no copy between int8 ops). s8
activations are passed to oneDNN's convolutions as u8 (x + 128): oneDNN
without VNNI halves the weights for s8 input, which is not exact.

On CPUs without VNNI/AMX, oneDNN's int8 kernels add pairs of u8*s8 products
with int16 saturation; lpot keeps results exact: when the weights are 7-bit
(``|w| <= 64``) or the activations are (``x <= 127``), oneDNN runs as is;
otherwise the activations are split into two 7-bit halves (about twice the
work, reported as ``'+split'``). Quantize weights to 7 bits on such CPUs for
full speed.
"""
from __future__ import annotations

from typing import Dict

from lpot._engine import (  # noqa: F401  (re-exported)
    PackedConv2d,
    PackedLinear,
    get_num_threads,
    qconv2d,
    qlinear,
    qembedding,
    qembedding_bag,
    qlinear_dynamic,
    qmatmul,
    rnn_dynamic_layer,
    set_num_threads,
)
from lpot._engine import last_impl as _last_impl


def last_impl() -> Dict[str, object]:
    """{'linear', 'conv2d', 'matmul': impl names, 'isa': oneDNN's ISA,
    'threads': threads of the last call (OpenMP's, or lpot's pool's for the
    own convolution path)} for the calling thread."""
    return _last_impl()


__all__ = [
    "PackedLinear",
    "PackedConv2d",
    "qlinear",
    "qlinear_dynamic",
    "qconv2d",
    "qmatmul",
    "rnn_dynamic_layer",
    "set_num_threads",
    "get_num_threads",
    "last_impl",
]
