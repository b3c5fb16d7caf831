from typing import Any, Literal, Optional, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

_DType = Literal["uint8", "int8"]
_Scheme = Literal["asym", "sym"]
_Algo = Literal["minmax", "moving_average", "kl", "entropy", "percentile", "mse"]
_Conv = Literal["onnx", "torch"]

ALGORITHMS: Tuple[str, ...]

class Observer:
    def __init__(
        self,
        algorithm: _Algo = ...,
        dtype: _DType = ...,
        scheme: _Scheme = ...,
        axis: Optional[int] = ...,
        *,
        reduce_range: bool = ...,
        narrow: bool = ...,
        convention: _Conv = ...,
        bins: int = ...,
        percentile: float = ...,
        averaging_constant: float = ...,
    ) -> None: ...
    def update(self, x: npt.ArrayLike) -> None: ...
    def compute(self) -> Tuple[np.ndarray, np.ndarray]: ...
    def compute_range(self) -> Tuple[np.ndarray, np.ndarray]: ...
    def merge(self, other: "Observer") -> None: ...
    def to_dict(self) -> dict[str, Any]: ...
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Observer": ...
    @property
    def nan_count(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def updates(self) -> int: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def convention(self) -> str: ...
    @property
    def axis(self) -> Optional[int]: ...

def quantize(x: npt.ArrayLike, scale: npt.ArrayLike, zero_point: npt.ArrayLike,
             axis: Optional[int] = ..., dtype: Optional[_DType] = ...) -> np.ndarray: ...
def dequantize(x: np.ndarray, scale: npt.ArrayLike, zero_point: npt.ArrayLike,
               axis: Optional[int] = ...) -> np.ndarray: ...
@overload
def fake_quant(x: npt.ArrayLike, scale: npt.ArrayLike, zero_point: npt.ArrayLike,
               axis: Optional[int] = ..., dtype: Optional[_DType] = ...,
               quant_min: Optional[int] = ..., quant_max: Optional[int] = ...,
               return_mask: Literal[False] = ...) -> np.ndarray: ...
@overload
def fake_quant(x: npt.ArrayLike, scale: npt.ArrayLike, zero_point: npt.ArrayLike,
               axis: Optional[int] = ..., dtype: Optional[_DType] = ...,
               quant_min: Optional[int] = ..., quant_max: Optional[int] = ...,
               return_mask: Literal[True] = ...) -> Tuple[np.ndarray, np.ndarray]: ...
def requantize(x: np.ndarray, multiplier: npt.ArrayLike, zero_point: npt.ArrayLike,
               axis: Optional[int] = ..., dtype: Optional[_DType] = ...) -> np.ndarray: ...
def qparams(min: Union[float, npt.ArrayLike], max: Union[float, npt.ArrayLike],
            dtype: _DType = ..., scheme: _Scheme = ..., reduce_range: bool = ...,
            *, narrow: bool = ..., convention: _Conv = ...) -> Tuple[np.ndarray, np.ndarray]: ...
