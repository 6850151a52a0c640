"""Reset, play/pause and step for one browser session's model.

Mesa's ``ModelController`` sleeps, steps and then redraws every panel, month
after month: with four matplotlib panels that is about half a second of
drawing per month, and each play click starts a loop of its own, so quick
clicks leave several loops stepping one model and queueing to draw. Here:

* one play loop per session (:class:`PlayLoop`): a play click while it runs
  only keeps it going; pause takes effect before the next month;
* every month the loop steps the model and updates the month counter, the
  monitors and the text (Mesa's ``update_counter``);
* the panels follow when there is time for them: at most every
  :data:`FRAME_SECONDS`, and never more than a third of the time
  (:data:`views.figures_month`); when play stops, they show the last month.
"""

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import solara
from mesa.visualization.utils import force_update

from .language import page_gettext
from .views import figures_month

FRAME_SECONDS = 0.5
"""While playing, the panels are redrawn at most this often (seconds)."""

DRAW_SHARE = 1 / 3
"""While playing, drawing the panels takes at most this share of the time."""

PLAY_INTERVAL_MS = 0
"""Default pause between two months of Play, in milliseconds (the slider's start)."""


class PlayLoop:
    """At most one thread playing a session's model; pausing stops it before its next month."""

    def __init__(self):
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def playing(self) -> bool:
        """Whether the loop is asked to go on (the page shows the pause button)."""
        return self._go.is_set()

    def play(self, month: Callable[[], bool], stopped: Callable[[], None]) -> None:
        """Play ``month()`` until it returns False or :meth:`pause`; then call ``stopped()``.

        Never starts a second thread: a click while the loop runs keeps it going.
        """
        with self._lock:
            self._go.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(month, stopped), name="crm-sim play", daemon=True
                )
                self._thread.start()

    def pause(self) -> None:
        """Stop before the next month (the month under way is finished)."""
        self._go.clear()

    def _run(self, month: Callable[[], bool], stopped: Callable[[], None]) -> None:
        try:
            going = True
            while going:
                with self._lock:
                    if not self._go.is_set():
                        break
                going = False  # unless the month says so (an error stops the loop too)
                going = month()
        finally:
            with self._lock:
                if not going:
                    self._go.clear()
                self._thread = None
            stopped()


class FrameClock:
    """When the panels may be redrawn during play: :data:`FRAME_SECONDS`, :data:`DRAW_SHARE`."""

    def __init__(self):
        self.next = 0.0

    def due(self) -> bool:
        """Whether it is time for a new picture."""
        return time.monotonic() >= self.next

    def drew(self, seconds: float) -> None:
        """A picture took ``seconds``: wait long enough that drawing stays within its share."""
        rest = max(FRAME_SECONDS - seconds, seconds * (1 / DRAW_SHARE - 1))
        self.next = time.monotonic() + rest


@solara.component
def PlayController(
    model: solara.Reactive,
    model_parameters: solara.Reactive[Mapping[str, Any]],
    play_interval: solara.Reactive[int],
):
    """Reset, ▶/❚❚ and Step, with Mesa's labels; the month counter below them.

    Args:
        model: this session's model; Reset replaces it with one built from
            ``model_parameters`` (the model's class called with them).
        model_parameters: keyword arguments of the next model (checked values).
        play_interval: pause between two months of Play, in milliseconds.
    """
    loop = solara.use_memo(PlayLoop, [])
    clock = solara.use_memo(FrameClock, [])
    playing = solara.use_reactive(False)
    running = solara.use_reactive(model.value.running)
    error = solara.use_reactive(None)
    solara.use_effect(lambda: loop.pause, [])  # the session closed: stop playing
    _ = page_gettext()

    def step_once() -> None:
        model.value.step()
        running.set(model.value.running)
        force_update()

    def month() -> bool:
        try:
            step_once()
            if clock.due():
                started = time.monotonic()
                figures_month.set(model.value.period)  # the panels redraw now
                clock.drew(time.monotonic() - started)
            time.sleep(play_interval.value / 1000)
        except Exception as failure:  # shown on the page; the loop stops
            error.set(_("error in step: {failure}").format(failure=failure))
            raise
        return model.value.running

    def stopped() -> None:
        if not loop.playing:
            playing.set(False)
            figures_month.set(None)  # the panels show the last month

    def play_pause() -> None:
        if loop.playing:
            loop.pause()
            playing.set(False)
            return
        clock.next = 0.0
        figures_month.set(model.value.period)
        playing.set(True)
        loop.play(month, stopped)

    def reset() -> None:
        loop.pause()
        playing.set(False)
        error.set(None)
        figures_month.set(None)
        model.set(type(model.value)(**model_parameters.value))
        running.set(True)

    with solara.Row(justify="space-between"):
        solara.Button(label=_("Reset"), color="primary", on_click=reset)
        solara.Button(
            label="❚❚" if playing.value else "▶",
            color="primary",
            on_click=play_pause,
            disabled=not running.value,
        )
        solara.Button(
            label=_("Step"),
            color="primary",
            on_click=step_once,
            disabled=playing.value or not running.value,
        )
    if error.value:
        solara.Error(label=error.value)
