"""What CuPy lets a stream capture into a CUDA graph: each candidate piece of a training step is
captured on its own, replayed, and compared with the same work run eagerly.

    python benchmarks/gpu_capture_probe.py

Each case runs in a process of its own, so a capture that leaves the context broken cannot spoil the next.
Prints one line per case: replayed and equal, replayed but different, or refused (with CuPy's message).
"""
import contextlib
import subprocess
import sys

import numpy

MATMUL_SOURCE = r"""
extern "C" __global__ void matmul(const float* a, const float* b, float* c, int m, int k, int n) {
    int row = blockIdx.y * blockDim.y + threadIdx.y, col = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= m || col >= n) return;
    float sum = 0.f;
    for (int i = 0; i < k; ++i) sum += a[row * k + i] * b[i * n + col];
    c[row * n + col] = sum;
}
"""


def cases(cupy):
    """{name: work() -> array}, each a fresh function of fixed inputs."""
    rng = numpy.random.default_rng(0)
    a = cupy.asarray(rng.standard_normal((512, 48)).astype(numpy.float32))
    w = cupy.asarray(rng.standard_normal((48, 8)).astype(numpy.float32))
    scale = cupy.ElementwiseKernel("float32 x, float32 s", "float32 y", "y = x * s + 1.0f", "probe_scale")
    matmul = cupy.RawKernel(MATMUL_SOURCE, "matmul")

    def own_matmul():
        c = cupy.empty((512, 8), cupy.float32)
        matmul(((8 + 15) // 16, (512 + 15) // 16), (16, 16), (a, w, c, numpy.int32(512), numpy.int32(48), numpy.int32(8)))
        return c

    return {
        "elementwise (a * 2 + 1)": lambda: a * 2 + 1,
        "reduction (a.sum(axis=0))": lambda: a.sum(axis=0),
        "ElementwiseKernel": lambda: scale(a, numpy.float32(2)),
        "cupy.matmul (cuBLAS)": lambda: a @ w,
        "own matmul RawKernel": own_matmul,
        "cupy.random.random (cuRAND)": lambda: cupy.random.random(8, dtype=cupy.float32),
        "Generator.random (default_rng)": lambda: cupy.random.default_rng(0).random(8, dtype=cupy.float32),
        "minigrad forward (batch 512)": minigrad_forward(cupy),
        "minigrad training step (batch 512)": minigrad_step(cupy),
    }


def minigrad_forward(cupy):
    def forward():
        from minigrad import Tensor, no_grad
        from ultimus.model import UltimusNet

        model = UltimusNet().to("gpu").eval()
        images = Tensor(cupy.ones((512, 3, 32, 32), cupy.float32))
        with no_grad():
            model(images)  # warm: the pool holds the blocks the captured forward asks for
        return lambda: model(images).data
    return _built_on_first_call(forward)


def minigrad_step(cupy):
    def step():
        from minigrad import Tensor
        from minigrad import functional as F
        from minigrad.optim import Adam
        from ultimus.model import UltimusNet

        model = UltimusNet(dropout=0.0).to("gpu")
        optimizer = Adam(model.parameters(), lr=1e-3)
        images, labels = Tensor(cupy.ones((512, 3, 32, 32), cupy.float32)), cupy.zeros(512, cupy.int64)

        def one_step():
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss.data
        one_step()
        return one_step
    return _built_on_first_call(step)


def _built_on_first_call(build):
    """Defer building a case (a model, its warm-up) until it is the case being probed."""
    built = []

    def work():
        if not built:
            built.append(build())
        return built[0]()
    return work


def probe(name):
    import cupy

    work = cases(cupy)[name]
    eager = work()  # also the warm-up: kernels compiled, pool blocks ready
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        try:
            captured = work()
        except Exception as error:  # what CuPy raises is the finding
            _end_capture_quietly(stream)
            return f"refused while capturing: {_first_line(error)}"
        try:
            graph = stream.end_capture()
            graph.launch(stream)
            stream.synchronize()
        except Exception as error:
            return f"refused at the end of capture or on replay: {_first_line(error)}"
    same = bool(cupy.allclose(captured, eager, rtol=1e-5, atol=1e-6)) if captured.shape == eager.shape else False
    return "replayed, equal to eager" if same else "replayed, NOT equal to eager (random or stateful work differs per call)"


def _end_capture_quietly(stream):
    with contextlib.suppress(Exception):  # the capture was already invalidated: nothing to end
        stream.end_capture()


def _first_line(error):
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(probe(sys.argv[2]))
        return
    import cupy

    print(f"CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}")
    for name in cases(cupy):
        try:
            done = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True, timeout=25)
            print(f"  {name}: {(done.stdout.strip() or done.stderr.strip() or 'no output').splitlines()[-1]}")
        except subprocess.TimeoutExpired:
            print(f"  {name}: no answer within 25 s (a capture that hangs)")


if __name__ == "__main__":
    main()
