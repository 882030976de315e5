"""The exported policy's forward pass mostly in float32, and a certificate that it chose what float64 chooses.

An exported policy's choice is the argmax of its float64 scores (``PolicyController.scores``, the
reference). Its hidden and output layers in float32 cost about half as much on the live agent's
frame (half the bytes of weights to bring back into the caches, twice the numbers per vector
instruction), but round differently, so on their own they could pick another action where two
scores are within rounding of each other. :class:`Float32Forward` therefore bounds, once per policy,
how far any of its scores can be from the float64 one, and answers only where the best allowed score
leads every other allowed one by more than twice that bound: the float64 argmax is then the same
action. Elsewhere it answers None and the caller computes the reference. The first
layer stays in float64: its input is the widest (125-176 observations on the boards' policies) and
the largest (normalised, up to the clip of 10), so its float32 rounding would dominate the bound.

The bound is Higham's for a dot product (Accuracy and Stability of Numerical Algorithms, 2nd ed.,
2002, section 3.1): n products summed in floating point with unit roundoff u, in any order, with or
without fused multiply-adds, are within gamma_n = n u / (1 - n u) of sum |w_i x_i| of the exact sum.
For a layer computed with unit roundoff u from weights W' (W rounded to its precision), whose
reference input is within ``a`` of 0 and whose fast input is within ``d`` of the reference's (per
unit; the bias is the last weight of an input fixed at 1, so n counts it):

    |z_fast - z64| <= |W| d + |W' - W| (a + d) + gamma_u |W'| (a + d) + gamma64 |W| a + underflow

Through tanh (1-Lipschitz, |tanh| <= 1) the next layer's d is that plus each pass's tanh error and
its a is 1; through relu (exact) its d is that and its a is ``|W| a (1 + gamma64)``; an output of
the float64 layer stored as float32 adds its rounding, ``u32 a``. The network's input is the same
float32 numbers in both passes (d = 0) within the normalisation's clip or, where the policy does not
clip, within the largest ``|obs|`` of the call: the bound is affine in that a, so it is computed for
a = 0 and a = 1 once.
"""

from __future__ import annotations

import math

import numpy as np

_U32, _U64 = 2.0**-24, 2.0**-53  # unit roundoff of float32 and float64
# numpy's float32 tanh (ported from Intel SVML's "la" variant, within 4 ulp: 2**-22 on [-1, 1]) with a
# 16x margin; tests/test_fast_path.py checks numpy's against float64 on a dense sample. float64's:
# within a few ulp of 2**-53, bounded here far above that.
_TANH_ERROR = {np.float32: 2.0**-18, np.float64: 2.0**-40}
# The bound is computed in float64 and compared in float64: doubled, its own rounding (relative
# ~1e-13) can never matter.
_MARGIN = 2.0


def _gamma(n: int, u: float) -> float:
    return n * u / (1.0 - n * u)


@np.errstate(over="ignore", invalid="ignore")  # an inf or NaN bound: never certain, rightly
def _score_bounds(layers: list[tuple[np.ndarray, np.ndarray]], dtypes: list[type], activation: str,
                  input_bound: float) -> np.ndarray:
    """Per output, how far the fast pass's score can be from the float64 one when every input of the
    network is within ``input_bound`` of 0, layer i computed in ``dtypes[i]`` (see the module doc)."""
    a = np.full(layers[0][0].shape[1], input_bound)
    d = np.zeros_like(a)
    for i, ((weight, bias), dtype) in enumerate(zip(layers, dtypes, strict=True)):
        w = np.hstack([weight, bias[:, None]])  # the bias: a weight on an input fixed at 1
        a, d = np.append(a, 1.0), np.append(d, 0.0)
        fast_w = w.astype(dtype).astype(np.float64)
        n = w.shape[1]
        # Each rounding may also add half the smallest subnormal: at most 2n per dot product.
        dz = (np.abs(w) @ d + np.abs(fast_w - w) @ (a + d)
              + _gamma(n, float(np.finfo(dtype).eps) / 2.0) * (np.abs(fast_w) @ (a + d))
              + _gamma(n, _U64) * (np.abs(w) @ a) + n * float(np.finfo(dtype).smallest_subnormal))
        if i == len(layers) - 1:
            return _MARGIN * dz
        if activation == "tanh":  # in float32 in the fast pass, float64 in the reference
            a, d = np.ones_like(dz), dz + _TANH_ERROR[np.float32] + _TANH_ERROR[np.float64]
        else:  # relu: exact in both passes
            a, d = (np.abs(w) @ a) * (1.0 + _gamma(n, _U64)), dz
        if dtype is not np.float32:
            # rounded to float32 before the activation: tanh moves it by at most that (x sech(x)^2 < 1),
            # relu keeps it
            d = d + _U32 * a
    raise AssertionError("a policy has at least one layer")


class Float32Forward:
    """A policy's layers, the first in float64 and the others in float32, each weight matrix with
    its bias as a last row, and the input buffers they read (each with a last entry fixed at 1).
    Not for concurrent use: the buffers are the instance's."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], activation: str,
                 input_bound: float | None) -> None:
        """``layers``: the reference's (W, b) pairs, input first; ``activation``: tanh or relu between
        them; ``input_bound``: every input is within it of 0 (the normalisation's clip), or None where
        no such bound holds (then the call's own largest ``|input|`` is used)."""
        dtypes = [np.float64] + [np.float32] * (len(layers) - 1)
        typed = list(zip(layers, dtypes, strict=True))
        self._weights = [np.vstack([w.T, b[None, :]]).astype(dtype) for (w, b), dtype in typed]
        # Each layer's input with a last entry fixed at 1, and a view of the rest, the previous layer's
        # activation writes into; each layer's output: made once, so that a pass allocates nothing and
        # makes no view (each costs a numpy call, and a frame's numpy calls are its cost). The network's
        # input stays float32: the first layer's float64 product converts it exactly.
        self._inputs = [np.ones(w.shape[1] + 1, dtype=np.float32) for w, _ in layers]
        self._heads = [x[:-1] for x in self._inputs]
        self._outputs = [np.empty(w.shape[0], dtype=dtype) for (w, _), dtype in typed]
        self._x = self._heads[0]
        self._relu = activation == "relu"
        at_zero = _score_bounds(layers, dtypes, activation, 0.0)
        per_input = _score_bounds(layers, dtypes, activation, 1.0) - at_zero  # each output's is affine
        # One bound for every score: the largest (where the input bound is known only per call, the
        # largest part of each, which is at least the largest sum).
        self._bound = None if input_bound is None else float((at_zero + input_bound * per_input).max())
        self._bound_at_zero, self._bound_per_input = float(at_zero.max()), float(per_input.max())

    def input(self) -> np.ndarray:
        """The float32 array to write the network's input into before :meth:`certain_argmax`."""
        return self._x

    def scores(self) -> tuple[np.ndarray, float]:
        """(the scores in float32, how far any can be from the float64 pass's) for the input written
        into :meth:`input`; the scores' array is the instance's, written over by the next pass."""
        inputs, heads, weights, outputs = self._inputs, self._heads, self._weights, self._outputs
        last = len(weights) - 1
        for i in range(last):
            z = np.matmul(inputs[i], weights[i], out=outputs[i])
            if self._relu:
                np.maximum(z, 0.0, out=heads[i + 1], dtype=np.float32)
            else:  # float32 out of the first layer too: numpy's float32 tanh, not float64's (half the time)
                np.tanh(z, out=heads[i + 1], dtype=np.float32)
        bound = self._bound
        if bound is None:  # NaN or inf in the input: a NaN or inf bound, and no certainty
            bound = self._bound_at_zero + float(np.abs(self._x).max()) * self._bound_per_input
        return np.matmul(inputs[last], weights[last], out=outputs[last]), bound

    def certain_argmax(self, mask: np.ndarray | None) -> int | None:
        """The argmax of the scores over the actions ``mask`` allows (all where None) for the input
        written into :meth:`input`, where it is certainly the float64 pass's; else None."""
        scores, bound = self.scores()
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        # In Python floats: each numpy call on a handful of numbers costs more than the arithmetic.
        values = scores.tolist()
        top = max(values)
        best = values.index(top)
        values[best] = -math.inf
        # Ahead of the next by more than twice the bound: its float64 score is still ahead. A NaN (which
        # max may pass over) makes the difference or the sum NaN: not certain.
        total = sum(values)
        return best if top - max(values) > 2.0 * bound and total == total else None
