#!/usr/bin/env python3
"""ci/cffi_check.py -- gshmem's C library used from Python through CFFI.

Loads libgshmem.so with CFFI in ABI mode, declared by include/shmem.h and
include/shmemx.h themselves (preprocessed with the C compiler; only their
own declarations are given to ffi.cdef), as a Python binding such as
shmem4py would, and on every PE of the job runs put/get and p/g on numpy
arrays that live in the symmetric heap, an atomic fetch-add, a sum
reduction on SHMEM_TEAM_WORLD and the barriers, checking every value. A
mismatch prints what differs and ends the job with shmem_global_exit(1).

Run it under the launcher with the library built, as ci/check.sh does:

    go run ./cmd/gshmemcc -install /tmp/gs
    go build -o /tmp/gs/bin/gpurun ./cmd/gpurun
    /tmp/gs/bin/gpurun -n 2 python3 ci/cffi_check.py \
        --lib /tmp/gs/lib/libgshmem.so --include /tmp/gs/include

A part whose functions the library does not have yet (it is checked for
with hasattr, which is false for a symbol the library lacks) is skipped
with a note. Needs cffi and numpy (Debian: python3-cffi python3-numpy).
"""

import argparse
import os
import re
import subprocess
import sys

import cffi
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def own_declarations(include_dir, cc):
    """The declarations of shmem.h and shmemx.h, preprocessed as a C11
    program including both sees them, without what their system headers
    declare (dropped by the line markers) and without what cdef cannot
    take: attributes, _Noreturn, and function bodies (static inline)."""
    out = subprocess.run(
        [cc, "-std=c11", "-E", "-I" + include_dir, "-x", "c", "-"],
        input="#include <shmem.h>\n#include <shmemx.h>\n",
        capture_output=True, text=True, check=True).stdout
    inc = os.path.realpath(include_dir)
    keep, mine = [], False
    for line in out.splitlines():
        m = re.match(r'# \d+ "([^"]*)"', line)
        if m:
            mine = os.path.dirname(os.path.realpath(m.group(1))) == inc
            continue
        if mine:
            keep.append(line)
    text = "\n".join(keep)
    text = strip_attributes(text)
    text = re.sub(r"\b(_Noreturn|__restrict__|__restrict|__inline__|__inline)\b", " ", text)
    return "\n".join(statements(text))


def header_constant(include_dir, cc, name):
    """The integer value of a handle constant of shmem.h (SHMEM_TEAM_WORLD,
    SHMEM_CTX_DEFAULT: casts of small integers, which cdef cannot declare),
    as the preprocessor expands it."""
    out = subprocess.run(
        [cc, "-std=c11", "-E", "-P", "-I" + include_dir, "-x", "c", "-"],
        input="#include <shmem.h>\ncffi_check_value %s\n" % name,
        capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("cffi_check_value")][-1]
    m = re.search(r"(\d+)\s*\)*\s*$", line)
    if m is None:
        raise ValueError("%s expands to %r, not a cast of an integer" % (name, line))
    return int(m.group(1))


def strip_attributes(text):
    while True:
        m = re.search(r"__attribute__\s*\(\(", text)
        if not m:
            return text
        depth, i = 2, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        text = text[:m.start()] + " " + text[i:]


def statements(text):
    """Top-level declarations, each ending in ';', without function
    definitions."""
    out, cur, depth, head = [], [], 0, ""
    for c in text:
        if c == "{":
            if depth == 0:
                head = "".join(cur)
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0 and head.strip().endswith(")"):
                cur, head = [], ""  # a function's body: not for cdef
                continue
        cur.append(c)
        if c == ";" and depth == 0:
            s = " ".join("".join(cur).split())
            cur, head = [], ""
            if s != ";" and not re.search(r"\b(static|inline)\b", s):
                out.append(s)
    return out


def load(lib_path, include_dir, cc):
    ffi = cffi.FFI()
    decls = own_declarations(include_dir, cc)
    try:
        ffi.cdef(decls)
    except cffi.CDefError:
        # Declare what cdef takes, one declaration at a time, and say what
        # it could not (a type pycparser does not know, say).
        ffi = cffi.FFI()
        good = []
        for d in decls.splitlines():
            probe = cffi.FFI()
            try:
                probe.cdef("\n".join(good + [d]))
                good.append(d)
            except cffi.CDefError as e:
                print("cffi_check: cdef cannot take %s (%s): left out" % (d, e), file=sys.stderr)
        ffi.cdef("\n".join(good))
    return ffi, ffi.dlopen(lib_path)


class Check:
    def __init__(self, ffi, lib, world):
        self.ffi, self.lib = ffi, lib
        self.world = world  # SHMEM_TEAM_WORLD
        self.me = lib.shmem_my_pe()
        self.n = lib.shmem_n_pes()
        self.long = np.dtype("i%d" % ffi.sizeof("long"))

    def fail(self, what):
        print("cffi_check: PE %d: %s" % (self.me, what), file=sys.stderr, flush=True)
        self.lib.shmem_global_exit(1)
        sys.exit(1)  # not reached

    def expect(self, name, got, want):
        if not np.array_equal(got, want):
            self.fail("%s: got %s, want %s" % (name, list(got), list(want)))

    def note(self, what):
        if self.me == 0:
            print("cffi_check: %s" % what, flush=True)

    def sym_longs(self, n):
        """n longs of the symmetric heap (zeroed), as a cdata pointer and
        a numpy array over the same memory."""
        p = self.lib.shmem_calloc(n, self.ffi.sizeof("long"))
        if p == self.ffi.NULL:
            self.fail("shmem_calloc(%d, %d) returned NULL" % (n, self.ffi.sizeof("long")))
        p = self.ffi.cast("long *", p)
        return p, np.frombuffer(self.ffi.buffer(p, n * self.long.itemsize), dtype=self.long)

    def ptr(self, a):
        return self.ffi.cast("long *", self.ffi.from_buffer(a))

    def rma(self):
        lib, me, n = self.lib, self.me, self.n
        right, left = (me + 1) % n, (me + n - 1) % n
        N = 64
        p, a = self.sym_longs(N)
        src = np.arange(N, dtype=self.long) + 1000 * me
        lib.shmem_barrier_all()
        lib.shmem_long_put(p, self.ptr(src), N, right)
        lib.shmem_barrier_all()
        self.expect("shmem_long_put from PE %d" % left, a, np.arange(N, dtype=self.long) + 1000 * left)
        got = np.zeros(N, dtype=self.long)
        lib.shmem_long_get(self.ptr(got), p, N, right)
        self.expect("shmem_long_get from PE %d" % right, got, src)
        lib.shmem_barrier_all()
        lib.shmem_long_p(p + me % N, -me - 1, right)
        lib.shmem_barrier_all()
        if a[left % N] != -left - 1:
            self.fail("shmem_long_p from PE %d: a[%d] = %d, want %d" % (left, left % N, a[left % N], -left - 1))
        g = lib.shmem_long_g(p + me % N, right)  # what this PE's p wrote
        if g != -me - 1:
            self.fail("shmem_long_g from PE %d: %d, want %d" % (right, g, -me - 1))
        lib.shmem_free(p)
        self.note("put/get/p/g on numpy arrays of the symmetric heap: ok")

    def atomics(self):
        lib, me, n = self.lib, self.me, self.n
        if not hasattr(lib, "shmem_long_atomic_fetch_add"):
            self.note("skipped the atomic fetch-add: libgshmem.so has no shmem_long_atomic_fetch_add yet")
            return
        p, a = self.sym_longs(1)
        lib.shmem_barrier_all()
        old = lib.shmem_long_atomic_fetch_add(p, me + 1, 0)
        total = n * (n + 1) // 2
        if not 0 <= old < total:
            self.fail("shmem_long_atomic_fetch_add returned %d, outside [0, %d)" % (old, total))
        lib.shmem_barrier_all()
        if me == 0 and a[0] != total:
            self.fail("after every PE's shmem_long_atomic_fetch_add(me+1): %d, want %d" % (a[0], total))
        olds = self.gather(old)
        if sorted(olds) != sorted(set(olds)):
            self.fail("shmem_long_atomic_fetch_add returned one old value twice: %s" % olds)
        lib.shmem_barrier_all()
        lib.shmem_free(p)
        self.note("atomic fetch-add: ok")

    def gather(self, v):
        """Every PE's v, read with shmem_long_g from each PE."""
        p, a = self.sym_longs(1)
        a[0] = v
        self.lib.shmem_barrier_all()
        vals = [self.lib.shmem_long_g(p, pe) for pe in range(self.n)]
        self.lib.shmem_barrier_all()
        self.lib.shmem_free(p)
        return vals

    def reduce(self):
        lib, ffi, me, n = self.lib, self.ffi, self.me, self.n
        if not hasattr(lib, "shmem_long_sum_reduce"):
            self.note("skipped the sum reduction: libgshmem.so has no shmem_long_sum_reduce yet")
            return
        N = 16
        sp, src = self.sym_longs(N)
        dp, dst = self.sym_longs(N)
        src[:] = np.arange(N, dtype=self.long) + me
        lib.shmem_barrier_all()
        rc = lib.shmem_long_sum_reduce(self.world, dp, sp, N)
        if rc != 0:
            self.fail("shmem_long_sum_reduce returned %d" % rc)
        self.expect("shmem_long_sum_reduce", dst, n * np.arange(N, dtype=self.long) + n * (n - 1) // 2)
        lib.shmem_barrier_all()
        lib.shmem_free(dp)
        lib.shmem_free(sp)
        self.note("sum reduction on SHMEM_TEAM_WORLD: ok")

    def barrier(self):
        lib, me, n = self.lib, self.me, self.n
        p, a = self.sym_longs(n)
        for round_ in range(1, 4):
            # Each PE writes its slot on every PE, then the barrier: all
            # slots must hold this round's values on the far side of it.
            for pe in range(n):
                lib.shmem_long_p(p + me, round_ * 100 + me, pe)
            lib.shmem_barrier_all()
            self.expect("slots after shmem_barrier_all, round %d" % round_, a,
                        round_ * 100 + np.arange(n, dtype=self.long))
            lib.shmem_barrier_all()
        lib.shmem_free(p)
        self.note("barriers: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "lib", "libgshmem.so"),
                    help="libgshmem.so (default: gshmemcc's build/lib in the repository)")
    ap.add_argument("--include", default=os.path.join(ROOT, "include"),
                    help="the directory of shmem.h and shmemx.h")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"), help="the C compiler that preprocesses")
    args = ap.parse_args()
    ffi, lib = load(os.path.abspath(args.lib), args.include, args.cc)
    lib.shmem_init()
    world = ffi.cast("shmem_team_t", header_constant(args.include, args.cc, "SHMEM_TEAM_WORLD"))
    c = Check(ffi, lib, world)
    name = ffi.new("char[]", 256)
    lib.shmem_info_get_name(name)
    c.note("%s on %d PEs (%s)" % (ffi.string(name).decode(), c.n, ffi.string(lib.shmemx_transport()).decode()))
    c.rma()
    c.atomics()
    c.reduce()
    c.barrier()
    lib.shmem_finalize()
    c.note("all checks passed")


if __name__ == "__main__":
    main()
