"""Summarises folded stacks (inferno-collapse-perf output) of one plughost process under the
echo load: each sample is put in the first bucket whose pattern matches a frame of its stack,
checked from the leaf up (so a memset inside a store's teardown counts as teardown), then the
top functions by self time. Used by bench/profile.sh; reads the folded file given as argv[1].
"""
import collections
import re
import sys

# (bucket, pattern on one frame), in priority order: a sample goes to the first bucket with a
# pattern matching any frame of its stack, so a memset inside a store's teardown counts as
# teardown and a write syscall made by hyper counts as the kernel's. Kernel frames end in
# `_[k]` in inferno's output; JIT-compiled guest code shows as `[perf-PID.map]`.
BUCKETS = [
    ("plugin: store teardown (memory reset, slot release)", r"drop_in_place<wasmtime::runtime::store|StoreOpaque as core::ops::drop::Drop"),
    ("plugin: store setup (WASI context, limiter)", r"runtime::store::new_store"),
    ("plugin: guest code and host calls", r"perf-\d+\.map|wasmtime::runtime::func|component::func::typed|plughost::capabilities::"),
    ("plugin: instantiation", r"instantiate|Instantiator|InstancePre|PluginIndices.*load|ComponentInstance::new"),
    ("plugin: other runtime work", r"runtime::call::execute|runtime::plugin::LoadedPlugin"),
    ("proxy: decode the envelope", r"proxy::wire::decode|proxy::request::"),
    ("proxy: encode the reply", r"proxy::wire::encode|check_reply"),
    ("dispatch, metrics, logs", r"plughost::dispatch::|plughost::metrics|tracing|prometheus"),
    ("kernel: socket write (incl. loopback delivery to wrk)", r"writev|sendmsg|sendto"),
    ("kernel: socket read", r"recvfrom|__libc_recv|readv|sock_read|tcp_recvmsg"),
    ("kernel: epoll, futex, scheduling", r"epoll_wait|futex|__schedule|sched_yield|finish_task_switch"),
    ("HTTP: hyper, axum, tower (parsing, routing, middleware)", r"^hyper|^axum|^tower|<hyper|<axum|<tower|http_server::"),
    ("tokio: task scheduling, timers, I/O driver", r"tokio|mio::"),
    ("allocator", r"malloc|_int_free|cfree|realloc|__rdl_|__rust_alloc|__rust_dealloc"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in BUCKETS]


def bucket_of(frames):
    for name, pattern in COMPILED:
        if any(pattern.search(frame) for frame in frames):
            return name
    return "other"


def main(path, top):
    totals = collections.Counter()
    selves = collections.Counter()
    total = 0
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        totals[bucket_of(frames)] += n
        selves[frames[-1]] += n
    if total == 0:
        print("profile: no samples")
        return 1
    print(f"{total} sampled CPU-nanoseconds; share of the host's CPU time by bucket:")
    for name, n in totals.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"top {top} functions by self time:")
    for name, n in selves.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20))
