"""Run inside the sandbox's child process, before untrusted code: refuse writes outside the work
folder, network access, new processes and native calls (via Python audit hooks, PEP 578).

Usage: python -I -B guard.py WORK_DIR MODULE [ARGS...]  (runs MODULE like `python -m`).
Audit hooks stop Python-level actions with clear messages; the kernel's boundary, which this guard
applies to itself first (boundary.py), and the limits and namespaces set by runner.py hold
when the hooks are switched off.
"""

import os
import runpy
import signal
import sys

WORK = os.path.realpath(sys.argv[1])
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
BLOCKED = {
    "socket.connect": "network access",
    "socket.bind": "network access",
    "socket.sendto": "network access",
    "socket.getaddrinfo": "network access",
    "socket.gethostbyname": "network access",
    "os.fork": "starting processes",
    "os.forkpty": "starting processes",
    "os.posix_spawn": "starting processes",
    "os.spawn": "starting processes",
    "os.exec": "starting processes",
    "os.system": "starting processes",
    "subprocess.Popen": "starting processes",
    "os.kill": "signalling processes",
    "os.killpg": "signalling processes",
    "ctypes.dlopen": "native calls",
    "ctypes.dlsym": "native calls",
    "ctypes.cdata": "native calls",
}
PATH_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "os.mkdir": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.link": (0, 1),
    "os.symlink": (0, 1),
    "os.truncate": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
    "shutil.move": (0, 1),
    "shutil.copyfile": (1,),
}


def _inside(path: object) -> bool:
    if isinstance(path, int):  # an already open file descriptor
        return True
    if isinstance(path, bytes):
        path = path.decode(errors="replace")
    real = os.path.realpath(os.path.join(WORK, str(path)))
    return real == WORK or real.startswith(WORK + os.sep) or real == os.devnull


def _hook(event: str, args: tuple) -> None:
    if event in BLOCKED:
        raise PermissionError(f"sandbox: {BLOCKED[event]} is not allowed ({event})")
    if event == "open" and args[0] is not None:
        mode, flags = args[1] or "r", args[2] or 0
        writing = any(c in str(mode) for c in "wax+") or bool(flags & WRITE_FLAGS)
        if writing and not _inside(args[0]):
            raise PermissionError(f"sandbox: writing outside the work folder is not allowed ({args[0]})")
    elif event in PATH_EVENTS:
        for index in PATH_EVENTS[event]:
            if index < len(args) and args[index] is not None and not _inside(args[index]):
                raise PermissionError(f"sandbox: changing files outside the work folder ({args[index]})")


def _cpu_limit(signum: int, frame: object) -> None:
    os._exit(128 + signum)  # process 1 of a PID namespace ignores SIGXCPU unless it handles it


def _boundary() -> list[str]:
    """boundary.py sits beside this file, whose folder -I keeps off sys.path: import it from
    there, before the boundary closes the folder."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import boundary

    sys.path.pop(0)
    return boundary.apply(WORK)


if __name__ == "__main__":
    signal.signal(signal.SIGXCPU, _cpu_limit)
    applied = _boundary()
    if sys.argv[2] == "--boundary":  # what sandbox.boundary() reports: the boundary, then nothing runs
        print("; ".join(applied))
        sys.exit(0)
    os.chdir(WORK)
    sys.path.insert(0, WORK)
    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    sys.addaudithook(_hook)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
