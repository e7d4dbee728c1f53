"""Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 weight decay."""
from minigrad.optim.optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's SGD. With gradient g (plus weight_decay * p), momentum mu and dampening d:

        b = g at the first step, else b = mu b + (1 - d) g
        p -= lr * (g + mu b)   with nesterov,   p -= lr * b   without   (p -= lr * g when mu = 0)
    """

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(params, defaults)

    def check_options(self, group):
        if group["momentum"] < 0:
            raise ValueError(f"momentum must be >= 0, got {group['momentum']}")
        if group["weight_decay"] < 0:
            raise ValueError(f"weight_decay must be >= 0, got {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"nesterov momentum needs momentum > 0 and dampening 0, got momentum={group['momentum']}, "
                f"dampening={group['dampening']}"
            )

    def update(self, param, grad, state, group):
        lr, momentum, weight_decay = float(group["lr"]), float(group["momentum"]), float(group["weight_decay"])
        if weight_decay:
            grad = grad + weight_decay * param.data
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= momentum
                buffer += (1 - float(group["dampening"])) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param.data -= lr * grad
