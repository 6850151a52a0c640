"""Start the teaching dashboard: ``solara run app.py`` on this machine only.

``python run.py app [SCENARIO.yaml] [--lang zh]`` calls :func:`serve`. The
scenario path and the language reach ``app.py`` through the environment
variables :data:`SCENARIO_ENV` and :data:`LANG_ENV`, because Solara imports
the page module itself; the page reads its language with :func:`page_language`.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import i18n
from sim.cache import COMPILE_SECONDS, engine_ready

from .scenario import load_scenario

SCENARIO_ENV = "CRM_SIM_SCENARIO"
"""Environment variable with the scenario file whose values the controls start at."""

LANG_ENV = "CRM_SIM_LANG"
"""Environment variable with the page's language (:data:`i18n.LANGUAGES`; unset: English)."""

APP = Path(__file__).resolve().parent.parent / "app.py"
"""The page module (top level of the source tree)."""

OFFLINE_ENV = {
    # the page works without the internet; Solara would otherwise report usage statistics
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
}


APP_LIBRARIES = ("solara", "mesa", "matplotlib", "ipyvuetify")
"""What the page imports (the ``app`` extra), checked before the server starts."""


def require_extra() -> None:
    """Raise ImportError naming the first of :data:`APP_LIBRARIES` that is not installed.

    Found without importing them: the process that starts the server does not draw.
    """
    import importlib.util

    for name in APP_LIBRARIES:
        if importlib.util.find_spec(name) is None:
            raise ImportError(f"No module named {name!r}")


def keep_offline() -> None:
    """Switch off Solara's usage statistics in this server process.

    ``solara run app.py`` runs the page module before the server reports its
    start, so calling this from ``app.py`` is enough; :func:`serve` also sets
    :data:`OFFLINE_ENV`.
    """
    from solara.server import settings

    settings.telemetry.mixpanel_enable = False


class SameOriginWebSockets:
    """ASGI wrapper: refuse a websocket whose ``Origin`` is not the host it was sent to.

    A browser sends the page's origin with every websocket; a page from another
    site (or another machine on a classroom network) that opens this server's
    websocket would otherwise drive a student's model. Refused before the
    handshake: the client sees HTTP 403. Clients that send no Origin (not a
    browser) are let through; plain HTTP requests are untouched.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        """Close a cross-origin websocket before its handshake; pass everything else on."""
        if scope["type"] == "websocket" and not same_origin(dict(scope["headers"])):
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


def same_origin(headers: dict[bytes, bytes]) -> bool:
    """Whether a request's ``Origin`` header (if any) names the host it was sent to."""
    origin = headers.get(b"origin")
    if origin is None:
        return True
    host = headers.get(b"host", b"").decode("latin-1").lower()
    return bool(host) and urlsplit(origin.decode("latin-1")).netloc.lower() == host


def guard_websockets() -> None:
    """Put :class:`SameOriginWebSockets` in front of Solara's websocket routes.

    Called from ``app.py``, which Solara runs once the server is up; the
    routes are looked up on every request, so wrapping them then takes effect
    for every session. Calling it again changes nothing.
    """
    from solara.server.starlette import app
    from starlette.routing import WebSocketRoute

    for route in app.router.routes:
        if isinstance(route, WebSocketRoute) and not isinstance(route.app, SameOriginWebSockets):
            route.app = SameOriginWebSockets(route.app)


def server_command(host: str = "127.0.0.1", port: int = 8765) -> list[str]:
    """The command line that serves :data:`APP` (production mode: no file watching)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        str(APP),
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
    ]


def page_language(environ=None) -> str:
    """The language the page speaks, from :data:`LANG_ENV` (English if unset).

    The page translates its labels with ``_ = i18n.translator(page_language())``,
    then ``_("Run")`` (see :mod:`i18n` for adding a string to the catalogs).
    """
    environ = os.environ if environ is None else environ
    return i18n.check_language(environ.get(LANG_ENV) or i18n.DEFAULT)


def server_environment(
    scenario_path: str | Path | None = None, lang: str = i18n.DEFAULT
) -> dict[str, str]:
    """This process's environment plus the scenario path, the language and the offline settings."""
    env = {**os.environ, **OFFLINE_ENV, LANG_ENV: i18n.check_language(lang)}
    env.pop(SCENARIO_ENV, None)
    if scenario_path is not None:
        env[SCENARIO_ENV] = str(Path(scenario_path).resolve())
    return env


def serve(
    scenario_path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    lang: str = i18n.DEFAULT,
) -> int:
    """Serve the dashboard until interrupted (Ctrl-C), then return Solara's exit code.

    Open ``http://{host}:{port}`` in a browser. Needs the ``app`` extra
    (``pip install -e '.[app]'``).

    Args:
        scenario_path: a scenario YAML file whose values the controls start at
            (checked before the server starts), or ``None`` for the defaults.
        host: address to listen on; keep the default so only this machine can connect.
        port: port to listen on.
        lang: the page's language (``en`` or ``zh``), passed on in :data:`LANG_ENV`.

    Returns:
        The exit code of the Solara server.

    Raises:
        FileNotFoundError: if the scenario file or ``app.py`` is missing.
        ValueError: if the scenario is not a valid three-firm configuration.
    """
    if scenario_path is not None:
        load_scenario(scenario_path)
    if not APP.is_file():
        raise FileNotFoundError(f"{APP} not found: run from a source checkout of crm-sim")
    # the page's first model should not wait for numba: compile (once) here, before serving;
    # once compiled, the server process loads the kernels itself and this one need not
    if not engine_ready():
        from sim import warm_up  # the model, Mesa and pandas: only when compiling here

        print(
            "preparing the model: compiling its engine (first start after install, "
            f"about {COMPILE_SECONDS} s; later starts take seconds)...",
            flush=True,
        )
        seconds = warm_up()
        print(
            f"compiled the engine in {seconds:.0f} s (once; later starts load it from the cache)",
            flush=True,
        )
    process = subprocess.Popen(
        server_command(host, port), env=server_environment(scenario_path, lang)
    )
    # stopped by Ctrl-C or SIGTERM, stop the server too rather than leave it running
    previous = (
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        return process.wait()
    except (KeyboardInterrupt, SystemExit):
        return _stop(process)
    finally:
        if process.poll() is None:
            _stop(process)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _stop(process: subprocess.Popen) -> int:
    """Terminate the server, then kill it if it does not stop within 10 s."""
    process.terminate()
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
