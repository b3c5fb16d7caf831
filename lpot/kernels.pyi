from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

_Ints = Union[int, Sequence[int]]

class PackedLinear:
    out_features: int
    in_features: int
    impl: str
    packed_bytes: int
    weight: np.ndarray
    w_scales: np.ndarray
    def __init__(self, weight: np.ndarray, w_scales: Union[float, Sequence[float], np.ndarray],
                 bias: Optional[np.ndarray] = ..., m_hint: int = ...) -> None: ...

class PackedConv2d:
    impl: str
    packed_bytes: int
    geometry: Dict[str, object]
    def __init__(self, weight: np.ndarray, w_scales: Union[float, Sequence[float], np.ndarray],
                 bias: Optional[np.ndarray] = ..., stride: _Ints = ..., padding: _Ints = ...,
                 dilation: _Ints = ..., groups: int = ...,
                 input_hw: Optional[Tuple[int, int]] = ...) -> None: ...

def qlinear(x: np.ndarray, packed: PackedLinear, x_scale: float, x_zp: int,
            out_dtype: str = ..., out_scale: float = ..., out_zp: int = ...,
            post_ops: Sequence[str] = ..., sum_input: Optional[np.ndarray] = ...,
            sum_scale: Optional[float] = ..., sum_zp: Optional[int] = ...,
            impl: str = ...) -> np.ndarray: ...
def qconv2d(x: np.ndarray, packed: PackedConv2d, x_scale: float, x_zp: int,
            out_dtype: str = ..., out_scale: float = ..., out_zp: int = ...,
            post_ops: Sequence[str] = ..., sum_input: Optional[np.ndarray] = ...,
            sum_scale: Optional[float] = ..., sum_zp: Optional[int] = ...,
            impl: str = ..., layout: str = ...) -> np.ndarray: ...
def qmatmul(a: np.ndarray, b: np.ndarray, a_scale: float, a_zp: int, b_scale: float, b_zp: int,
            out_dtype: str = ..., out_scale: float = ..., out_zp: int = ...,
            post_ops: Sequence[str] = ..., sum_input: Optional[np.ndarray] = ...,
            sum_scale: Optional[float] = ..., sum_zp: Optional[int] = ...,
            impl: str = ..., transpose_b: bool = ...) -> np.ndarray: ...
def qlinear_dynamic(x: np.ndarray, packed: PackedLinear, per_row: bool = ...,
                    post_ops: Sequence[str] = ..., impl: str = ...,
                    return_qparams: bool = ...) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray, np.ndarray]]: ...
def qembedding(weight: np.ndarray, scales: np.ndarray, idx: np.ndarray) -> np.ndarray: ...
def qembedding_bag(weight: np.ndarray, scales: np.ndarray, idx: np.ndarray, offsets: np.ndarray,
                   per_sample_weights: Optional[np.ndarray] = ..., padding_idx: int = ...,
                   mode: str = ...) -> np.ndarray: ...
def rnn_dynamic_layer(mode: str, xp: np.ndarray, packed_hh: PackedLinear, h0: np.ndarray,
                      c0: Optional[np.ndarray] = ..., impl: str = ...
                      ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def last_impl() -> Dict[str, object]: ...
