"""A checked CUDA computation, run on the GPU host by smoke_tests/gpu (`python3 -c <this source>`) and in a
pod by the image images/cuda-smoke (add_gpu_node.yml's test pod).

PyTorch where it is importable with CUDA; otherwise the driver API through ctypes (libcuda.so.1 ships with the
driver): a vector-add kernel given as PTX, JIT-compiled by the driver, so no CUDA toolkit or compiler is
needed.
Prints one JSON line: {"ok": bool, "method": str, "detail": str} and exits 0 only when ok is true.
Standard library only (python3 >= 3.8).
"""

import ctypes
import json

N = 1 << 20

# out[i] = a[i] + b[i] for i < n; PTX ISA 6.0 / sm_50, which every current driver JIT-compiles for its GPUs.
PTX = b"""
.version 6.0
.target sm_50
.address_size 64
.visible .entry vadd(.param .u64 pa, .param .u64 pb, .param .u64 pout, .param .u32 n)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<4>;
    .reg .b64 %rd<11>;
    ld.param.u64 %rd1, [pa];
    ld.param.u64 %rd2, [pb];
    ld.param.u64 %rd3, [pout];
    ld.param.u32 %r1, [n];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd4, %rd1;
    cvta.to.global.u64 %rd5, %rd2;
    cvta.to.global.u64 %rd6, %rd3;
    mul.wide.u32 %rd7, %r5, 4;
    add.s64 %rd8, %rd4, %rd7;
    add.s64 %rd9, %rd5, %rd7;
    add.s64 %rd10, %rd6, %rd7;
    ld.global.f32 %f1, [%rd8];
    ld.global.f32 %f2, [%rd9];
    add.f32 %f3, %f1, %f2;
    st.global.f32 [%rd10], %f3;
DONE:
    ret;
}
"""


def torch_check():
    import torch

    if not torch.cuda.is_available():
        return None
    results = []
    for index in range(torch.cuda.device_count()):
        a = torch.arange(N, dtype=torch.float32, device=f"cuda:{index}")
        total = float((a + a).sum().item())
        want = float(N * (N - 1))
        results.append(abs(total - want) / want < 1e-4)
    return {
        "ok": all(results) and bool(results),
        "method": "pytorch",
        "detail": f"sum(2*arange({N})) on {len(results)} GPU(s): {results}",
    }


def driver_api_check():
    cuda = ctypes.CDLL("libcuda.so.1")

    def call(name, *args):
        rc = getattr(cuda, name)(*args)
        if rc != 0:
            raise RuntimeError(f"{name} returned CUresult {rc}")

    call("cuInit", 0)
    count = ctypes.c_int()
    call("cuDeviceGetCount", ctypes.byref(count))
    size = N * 4
    a = (ctypes.c_float * N)(*[float(i) for i in range(N)])
    b = (ctypes.c_float * N)(*[2.0 * i for i in range(N)])
    bad_devices = []
    for ordinal in range(count.value):
        device = ctypes.c_int()
        context, module, kernel = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        call("cuDeviceGet", ctypes.byref(device), ordinal)
        call("cuCtxCreate_v2", ctypes.byref(context), 0, device)
        try:
            call("cuModuleLoadData", ctypes.byref(module), ctypes.c_char_p(PTX))
            call("cuModuleGetFunction", ctypes.byref(kernel), module, b"vadd")
            da, db, dout = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
            for ptr in (da, db, dout):
                call("cuMemAlloc_v2", ctypes.byref(ptr), ctypes.c_size_t(size))
            call("cuMemcpyHtoD_v2", da, a, ctypes.c_size_t(size))
            call("cuMemcpyHtoD_v2", db, b, ctypes.c_size_t(size))
            n = ctypes.c_uint32(N)
            args = [ctypes.cast(ctypes.byref(x), ctypes.c_void_p) for x in (da, db, dout, n)]
            params = (ctypes.c_void_p * 4)(*args)
            call("cuLaunchKernel", kernel, (N + 255) // 256, 1, 1, 256, 1, 1, 0, None, params, None)
            call("cuCtxSynchronize")
            out = (ctypes.c_float * N)()
            call("cuMemcpyDtoH_v2", out, dout, ctypes.c_size_t(size))
            if any(out[i] != 3.0 * i for i in range(0, N, 997)) or out[N - 1] != 3.0 * (N - 1):
                bad_devices.append(ordinal)
            for ptr in (da, db, dout):
                call("cuMemFree_v2", ptr)
        finally:
            cuda.cuCtxDestroy_v2(context)
    return {
        "ok": count.value > 0 and not bad_devices,
        "method": "cuda-driver-api",
        "detail": f"vector add of {N} floats on {count.value} GPU(s); "
        f"wrong results on {bad_devices or 'none'}",
    }


def main():
    try:
        result = torch_check()
    except ImportError:
        result = None
    if result is None:
        try:
            result = driver_api_check()
        except (OSError, RuntimeError) as exc:
            result = {"ok": False, "method": "cuda-driver-api", "detail": str(exc)}
    print(json.dumps(result))
    raise SystemExit(0 if result["ok"] else 1)


main()
