"""The operating system's boundary around untrusted code, applied by guard.py to its own
process before the code runs, and inherited by anything it could start.

- Landlock (Linux 5.13+, no privileges needed): files can be read only under Python's own folders,
  the installed packages and the system libraries, and changed only in the work folder; TCP binds and
  connects are refused (ABI 4+); abstract Unix sockets and signals stay inside (ABI 6+).
- seccomp: no new processes (threads are fine), no sockets at all (so no Unix socket outside either),
  no chmod/chown, mounts, namespaces, ptrace, BPF, io_uring or kernel keyrings.
Both need no_new_privs, so nothing the code executes can gain privileges. Where the kernel offers
neither, `apply` says so and the caller decides (the code scenario refuses unless allowed).
Standard library only: it runs in the sandbox's fresh interpreter.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
SYSTEM_READ = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/etc/localtime")
SYSTEM_READ += ("/etc/ld.so.cache", "/dev/urandom", "/dev/random")

# Syscall numbers (x86_64, aarch64) and the audit architecture each filter checks first.
ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
DENIED = {
    "x86_64": [57, 58, 59, 322, 41, 90, 91, 268, 452, 92, 93, 94, 260, 101, 310, 311, 165, 166, 155]
    + [272, 308, 321, 250, 248, 249, 428, 429, 430, 432, 433, 442, 323, 298, 246, 175, 313, 425],
    "aarch64": [221, 281, 198, 52, 53, 452, 55, 54, 117, 270, 271, 40, 39, 41, 97, 268, 280, 219]
    + [217, 218, 428, 429, 430, 432, 433, 442, 282, 241, 104, 105, 273, 425],
}
CLONE = {"x86_64": 56, "aarch64": 220}
CLONE3 = 435  # refused with ENOSYS, so the C library falls back to clone (checked for CLONE_THREAD)
CLONE_THREAD = 0x00010000


def _call(name: str, *args: int | bytes | None) -> int:
    """A libc function called with every integer widened to a long (syscall is variadic)."""
    function = getattr(ctypes.CDLL(None, use_errno=True), name)
    function.restype = ctypes.c_long
    return function(*(ctypes.c_long(a) if isinstance(a, int) else a for a in args))


def _check(result: int, what: str) -> int:
    if result < 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none."""
    return max(_call("syscall", LANDLOCK_CREATE_RULESET, None, 0, 1), 0)


def _landlock(work: str, abi: int) -> None:
    handled_fs = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    handled_fs |= FS_IOCTL_DEV if abi >= 5 else 0
    fields = [handled_fs]
    if abi >= 4:
        fields.append(0b11)  # BIND_TCP | CONNECT_TCP, with no rule allowing any port
    if abi >= 6:
        fields.append(0b11)  # scoped: abstract Unix sockets and signals
    attr = struct.pack(f"<{len(fields)}Q", *fields)
    ruleset = _check(_call("syscall", LANDLOCK_CREATE_RULESET, attr, len(attr), 0), "landlock_create_ruleset")
    try:
        reads = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path)}
        reads |= {os.path.realpath(p) for p in SYSTEM_READ}
        rules = {path: READ_ONLY for path in reads if path and os.path.exists(path)}
        rules[os.path.realpath(os.devnull)] = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV
        rules[os.path.realpath(work)] = handled_fs
        for path, rights in rules.items():
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                if not os.path.isdir(path):
                    rights &= FILE_RIGHTS
                rule = struct.pack("<Qi", rights & handled_fs, fd)
                _check(_call("syscall", LANDLOCK_ADD_RULE, ruleset, 1, rule, 0), f"landlock rule {path}")
            finally:
                os.close(fd)
        _check(_call("syscall", LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _filter(machine: str) -> bytes:
    """A classic-BPF seccomp program: allow everything but the DENIED calls (EPERM), clone only for
    threads, clone3 as ENOSYS; any other architecture's calls kill the process."""

    def op(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("<HBBI", code, jt, jf, k)

    load, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    program = [op(load, 0, 0, 4), op(jeq, 1, 0, ARCHES[machine]), op(ret, 0, 0, kill), op(load, 0, 0, 0)]
    if machine == "x86_64":
        program += [op(jge, 0, 1, 0x40000000), op(ret, 0, 0, eperm)]  # the x32 ABI
    for number in DENIED[machine]:
        program += [op(jeq, 0, 1, number), op(ret, 0, 0, eperm)]
    program += [op(jeq, 0, 1, CLONE3), op(ret, 0, 0, enosys)]
    program += [op(jeq, 0, 4, CLONE[machine]), op(load, 0, 0, 16), op(jset, 1, 0, CLONE_THREAD)]
    program += [op(ret, 0, 0, eperm), op(ret, 0, 0, allow), op(ret, 0, 0, allow)]
    return b"".join(program)


def _seccomp(machine: str) -> None:
    code = _filter(machine)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("<HxxxxxxQ", len(code) // 8, ctypes.addressof(buffer))
    _check(_call("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0), "seccomp")


def apply(work: str) -> list[str]:
    """Apply what this kernel offers to the calling process; return what was applied. A layer the
    kernel refuses is left out (the probe in sandbox.boundary() sees the same)."""
    if sys.platform != "linux":
        return []
    try:
        _check(_call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    except OSError:
        return []
    applied = []
    abi = landlock_abi()
    machine = platform.machine()
    layers = [
        (bool(abi), lambda: _landlock(work, abi), f"landlock ABI {abi} (files{', TCP' if abi >= 4 else ''})"),
        (
            machine in ARCHES,
            lambda: _seccomp(machine),
            "seccomp (no processes, sockets, chmod/chown, mounts, ptrace)",
        ),
    ]
    for offered, install, name in layers:
        if offered:
            try:
                install()
            except OSError:
                continue
            applied.append(name)
    return applied
