"""The arithmetic operators: + - * / ** @ and unary minus, with NumPy broadcasting."""
from minigrad.tensor import Function


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing the broadcast that stretched an input to the output.

    Broadcasting copies an input along new leading axes and along axes of size 1,
    so its gradient is the sum of the output gradient over those axes.
    """
    if grad.shape == shape:
        return grad
    leading = grad.ndim - len(shape)
    stretched = tuple(axis + leading for axis, size in enumerate(shape) if size == 1 and grad.shape[axis + leading] != 1)
    grad = grad.sum(axis=tuple(range(leading)) + stretched, keepdims=True)
    return grad.reshape(shape)


class Add(Function):
    """d(a + b)/da = 1, d(a + b)/db = 1: each input gets the output's gradient, summed to its shape."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, grad_output):
        grad_a = unbroadcast(grad_output, self.shapes[0]) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(grad_output, self.shapes[1]) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Sub(Function):
    """d(a - b)/da = 1, d(a - b)/db = -1."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, grad_output):
        grad_a = unbroadcast(grad_output, self.shapes[0]) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(-grad_output, self.shapes[1]) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Mul(Function):
    """d(ab)/da = b, d(ab)/db = a."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad_output):
        a, b = self.saved
        grad_a = unbroadcast(grad_output * b, a.shape) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(grad_output * a, b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """d(a/b)/da = 1/b, d(a/b)/db = -a/b^2."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad_output):
        a, b = self.saved
        grad_a = grad_output / b  # also the first factor of grad_b
        grad_b = unbroadcast(-grad_a * a / b, b.shape) if self.needs_input_grad[1] else None
        return unbroadcast(grad_a, a.shape) if self.needs_input_grad[0] else None, grad_b


class Neg(Function):
    """d(-a)/da = -1."""

    def forward(self, a):
        return -a

    def backward(self, grad_output):
        return (-grad_output,)


class Pow(Function):
    """a ** p for a constant exponent p: d/da = p a^(p-1)."""

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, a):
        self.save_for_backward(a)
        return a**self.exponent

    def backward(self, grad_output):
        (a,) = self.saved
        return (grad_output * self.exponent * a ** (self.exponent - 1),)


class Scale(Function):
    """a c for a constant (Python number) c: d/da = c. Mul with the constant as a Tensor computes the same,
    but makes that Tensor first, an array operation of its own on a GPU."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, a):
        return a * self.factor

    def backward(self, grad_output):
        return (grad_output * self.factor,)


class MatMul(Function):
    """a @ b with NumPy's rules (1-D operands, batched leading axes broadcast).

    For C = A B: dA = dC B^T and dB = A^T dC, summed over broadcast batch axes.
    """

    def forward(self, a, b):  # a shape mismatch raises in NumPy's matmul; Function.__call__ names the op
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, grad_output):
        a, b = self.saved
        a2 = a[None, :] if a.ndim == 1 else a  # promote 1-D operands to matrices, as matmul does
        b2 = b[:, None] if b.ndim == 1 else b
        grad2 = grad_output  # the axes that the promotion added: b's column first (grad_output may be 0-d)
        if b.ndim == 1:
            grad2 = grad2[..., None]
        if a.ndim == 1:
            grad2 = grad2[..., None, :]
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = unbroadcast(grad2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(a2.swapaxes(-1, -2) @ grad2, b2.shape).reshape(b.shape)
        return grad_a, grad_b


def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def neg(a):
    return Neg()(a)


def pow(a, exponent):
    """a ** exponent for a constant (non-Tensor) exponent."""
    if not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}")
    return Pow(exponent)(a)


def scale(a, factor):
    """a * factor for a constant (non-Tensor) factor, which stays a Python number."""
    if not isinstance(factor, (int, float)):
        raise TypeError(f"scale: the factor must be a Python number, got {type(factor).__name__}")
    return Scale(factor)(a)


def matmul(a, b):
    return MatMul()(a, b)
