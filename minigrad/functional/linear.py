"""The fully connected layer y = x W^T + b, as one fused op."""
from minigrad.tensor import Function


class Linear(Function):
    """y = x W^T + b over the last axis of x (..., in_features), with W (out_features, in_features).

    With x and dy flattened to rows, (M, in) and (M, out):
    dx = dy W, dW = dy^T x, db = sum of dy over the rows.
    """

    def forward(self, x, weight, bias=None):
        rows = x.reshape(-1, x.shape[-1])
        self.input_shape = x.shape
        self.save_for_backward(rows, weight)
        output = rows @ weight.T
        if bias is not None:
            output += bias
        return output.reshape(x.shape[:-1] + (len(weight),))

    def backward(self, grad_output):
        rows, weight = self.saved
        grad_rows = grad_output.reshape(-1, grad_output.shape[-1])
        needs = self.needs_input_grad
        grad_x = (grad_rows @ weight).reshape(self.input_shape) if needs[0] else None
        grad_weight = grad_rows.T @ rows if needs[1] else None
        if len(needs) == 2:  # no bias
            return grad_x, grad_weight
        return grad_x, grad_weight, grad_rows.sum(axis=0) if needs[2] else None


def linear(x, weight, bias=None):
    """x (..., in_features) @ weight^T + bias -> (..., out_features), as PyTorch's F.linear.

    weight: (out_features, in_features); bias: (out_features,) or None.
    """
    if weight.ndim != 2:
        raise ValueError(f"linear expects weight of shape (out_features, in_features), got shape {tuple(weight.shape)}")
    if x.ndim == 0:
        raise ValueError("linear expects x of shape (..., in_features), got a 0-dimensional tensor")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: x has {x.shape[-1]} input features (the last axis of its shape {tuple(x.shape)}) "
            f"but weight of shape {tuple(weight.shape)} expects {weight.shape[1]}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape (out_features,) = ({weight.shape[0]},), got {tuple(bias.shape)}")
    return Linear()(*((x, weight) if bias is None else (x, weight, bias)))
