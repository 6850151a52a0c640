"""One crm-sim process at a time writes into an output folder: its lock file.

The lock is the file :data:`store.files.LOCK_FILE` (``.crm-sim.lock``) in the
folder, holding the process id and host name of the process that writes
there, and an exclusive ``flock`` that process holds on it while it runs. The
kernel drops a ``flock`` when its process ends, however it ends (kill -9
included), so a lock is never left held by a dead process: a second process
that finds the file but gets the ``flock`` takes the lock over, with a note
naming the process that had it. A second process that cannot get it is
refused with one line naming the process id and host that hold it.

A ``flock`` belongs to the open file, and a forked child (a pool worker, a
plot renderer) inherits the open file: a child still dying after its parent
was killed would hold the lock of a dead process. So a forked child closes
its copy at once (:func:`os.register_at_fork`): the lock lives exactly as
long as the process that took it.

On a platform without ``fcntl`` the process id in the file decides: a lock
whose process is gone (on this host) is taken over.
"""

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from .files import LOCK_FILE, OutputError

try:
    import fcntl
except ImportError:  # not on a POSIX system
    fcntl = None

_HELD: dict[int, object] = {}  # the open lock files of this process, by id


def _forget_in_child() -> None:
    """In a forked child: close the inherited lock files; the parent's lock stays its own."""
    for handle in _HELD.values():
        handle.close()  # closes the child's descriptor only; the parent's flock stays
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def holder(folder: Path) -> tuple[int, str] | None:
    """The process id and host written in ``folder``'s lock file, or None."""
    try:
        pid, host = (Path(folder) / LOCK_FILE).read_text(encoding="utf-8").split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def in_use(folder: Path) -> str:
    """The one line that refuses a folder another process writes into."""
    who = holder(folder)
    by = f"crm-sim process {who[0]} on {who[1]}" if who else "another crm-sim process"
    return (
        f"results folder {folder}: in use by {by} (lock {Path(folder) / LOCK_FILE}); wait "
        "for it to finish, or give another --out"
    )


def _held_elsewhere(handle) -> bool:
    """True if another process holds the ``flock`` of the open lock file ``handle``."""
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def check_free(folder: Path) -> None:
    """Raise :class:`OutputError` if a live process holds ``folder``'s lock; change nothing."""
    path = Path(folder) / LOCK_FILE
    if not path.is_file():
        return
    if fcntl is None:
        who = holder(folder)
        if who and who[1] == socket.gethostname() and pid_alive(who[0]):
            raise OutputError(in_use(folder))
        return
    with open(path, "rb") as handle:
        if _held_elsewhere(handle):
            raise OutputError(in_use(folder))


@contextlib.contextmanager
def locked(folder: Path, note: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; the folder must exist.

    Args:
        folder: the output folder.
        note: called with one line when a stale lock (its process gone) is
            taken over.

    Raises:
        OutputError: another live process holds it.
    """
    path = Path(folder) / LOCK_FILE
    handle = _acquire(path, note)
    _HELD[id(handle)] = handle
    try:
        yield
    finally:
        _HELD.pop(id(handle), None)
        path.unlink(missing_ok=True)
        handle.close()  # drops the flock


def _acquire(path: Path, note: Callable[[str], None]):
    """Open, lock and fill in the lock file at ``path``; return the open file."""
    mine = f"{os.getpid()} {socket.gethostname()}\n"
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open while locked)
        try:
            if fcntl is not None and _locked_by_other(handle):
                raise OutputError(in_use(path.parent))
            if fcntl is None:
                _check_pid(path)
            # the file may have been deleted and made anew by a process that just released it
            if os.path.exists(path) and os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino:
                break
        except BaseException:
            handle.close()
            raise
        handle.close()
    handle.seek(0)
    earlier = handle.read().split()
    if earlier and earlier[:2] != mine.split():
        note(
            f"took over the lock of crm-sim process {earlier[0]}"
            + (f" on {earlier[1]}" if len(earlier) > 1 else "")
            + ", which is no longer running"
        )
    handle.seek(0)
    handle.truncate()
    handle.write(mine)
    handle.flush()
    return handle


def _locked_by_other(handle) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def _check_pid(path: Path) -> None:
    who = holder(path.parent)
    if who and who[0] != os.getpid() and who[1] == socket.gethostname() and pid_alive(who[0]):
        raise OutputError(in_use(path.parent))
