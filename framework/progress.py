"""The training display: a bar on a terminal, one line per epoch in a log, a widget in Jupyter.

The Trainer reports to a :class:`ProgressDisplay`, which picks its form once,
when training starts:

* ``"bar"``: stderr is a terminal. One tqdm bar for the epochs (the epoch
  counter, elapsed and remaining time, the loss and the watched metrics),
  and a transient one for the batches of the current epoch. Both are laid
  out for the terminal's width: the bar itself shrinks or goes, then the
  least important metrics, so that no number is ever cut.
* ``"lines"``: stderr is a file or a pipe (a log, a batch job), or Jupyter
  without ipywidgets. One concise line per epoch, written as the epoch ends.
  Very fast runs are rate-limited by a token bucket: the first
  :data:`LINE_BURST` epochs are all shown, then at most
  :data:`LINES_PER_SECOND` lines a second; the last epoch is always shown.
* ``"notebook"``: inside a Jupyter kernel with ipywidgets installed, tqdm's
  notebook widget.
* ``"off"``: nothing at all (``progress=False``, ``minidl run --quiet``).

Nothing here imports ``tqdm.auto`` or ``tqdm.notebook`` unless the notebook
form is chosen, so importing minidl never warns ("IProgress not found").
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import Any, Iterable, TextIO
from framework.errors import InvalidValueError

#: Lines always written at the start of a run before rate-limiting applies.
LINE_BURST = 100
#: The sustained rate of epoch lines once the burst is spent.
LINES_PER_SECOND = 2.0
#: The narrowest bar worth drawing; below it, the bar is left out.
MIN_BAR = 10

MODES = ("auto", "bar", "lines", "notebook", "off")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython imported and running a kernel shell)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
        if shell is None:
            return False
        return type(shell).__name__ == "ZMQInteractiveShell" or "IPKernelApp" in shell.config
    except Exception:  # a half-initialised or foreign IPython: not a notebook we can draw in
        return False


def has_widgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def choose_mode(progress: bool | str, stream: TextIO | None = None) -> str:
    """The display form for ``progress`` (True/False or one of :data:`MODES`)."""
    if progress is False or progress is None:
        return "off"
    if progress is True:
        progress = "auto"
    if progress not in MODES:
        raise InvalidValueError(f"progress must be True, False or one of {', '.join(MODES)}. Received: {progress!r}")
    if progress != "auto":
        return progress
    if in_notebook():
        return "notebook" if has_widgets() else "lines"
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "bar" if tty else "lines"


def terminal_width(stream: TextIO, default: int = 80) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or default
    except (AttributeError, ValueError, OSError):
        return default


def format_value(value: Any) -> str:
    """4 significant digits: short, and enough to see a metric move."""
    if isinstance(value, float):
        return format_number(value, 4)
    return str(value)


def format_number(value: Any, digits: int = 6) -> str:
    """``value`` to ``digits`` significant digits; a zero is ``0``, never ``-0`` (a negated zero sum)."""
    return f"{value + 0.0:.{digits}g}"


def format_duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def layout(fixed: int, items: list[str], width: int) -> tuple[list[str], int]:
    """Which ``name value`` items fit beside ``fixed`` columns of text, and the bar's width.

    Returns (items kept, bar width); a bar width of 0 means no bar. The bar
    shrinks first, down to :data:`MIN_BAR` columns, then goes; then trailing
    items are dropped whole, so that no number is ever cut.
    """
    kept = list(items)
    while True:
        used = fixed + sum(1 + len(item) for item in kept)
        room = width - used - 3  # " |" before the bar, "|" after it
        if room >= MIN_BAR:
            return kept, room
        if used <= width or not kept:
            return kept, 0
        kept.pop()


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class ProgressDisplay:
    """What the Trainer shows while it trains (see the module docstring).

    Args:
        progress: True ("auto"), False ("off"), or a mode of :data:`MODES`.
        total: the epoch training stops at; ``initial``: the epoch it starts from.
        keys: log keys to show besides ``loss`` (the monitored and target
            metrics), in order of importance.
        stream: where text goes (default: stderr; stdout in Jupyter).
    """

    def __init__(self, progress: bool | str, *, total: int, initial: int = 0, keys: Iterable[str] = (),
                 stream: TextIO | None = None):
        self.mode = choose_mode(progress, stream)
        if stream is None:
            stream = sys.stdout if self.mode in ("notebook", "lines") and in_notebook() else sys.stderr
        self.stream = stream
        self.total, self.initial = total, initial
        self.keys = list(dict.fromkeys(["loss", "val_loss", *keys]))
        self.started = time.perf_counter()
        self.epoch = initial
        self._bar = None
        self._batch_bar = None
        self._tokens = float(LINE_BURST)
        self._refill_at = self.started
        self._epoch_started = self.started
        self._epoch_number, self._n_batches = initial + 1, 0
        if self.mode == "bar":
            from tqdm.std import tqdm

            self._tqdm = tqdm
        elif self.mode == "notebook":
            from tqdm.notebook import tqdm

            self._tqdm = tqdm
        if self.mode in ("bar", "notebook"):
            self._bar = self._tqdm(total=total, initial=initial, file=self.stream, leave=True,
                                   bar_format=self._epoch_format(initial, {}), ncols=self._ncols(),
                                   mininterval=0.1)

    @property
    def active(self) -> bool:
        return self.mode != "off"

    # -- helpers --------------------------------------------------------------
    def _ncols(self) -> int | None:
        return terminal_width(self.stream) if self.mode == "bar" else None

    def items(self, logs: dict[str, Any]) -> list[str]:
        """``name value`` for the loss, the validation loss and the watched keys found in ``logs``."""
        return [f"{key} {format_value(logs[key])}" for key in self.keys if key in logs]

    def _times(self, epoch: int, now: float) -> str:
        elapsed = now - self.started
        done = epoch - self.initial
        remaining = elapsed / done * (self.total - epoch) if done > 0 else None
        return f"[{_clock(elapsed)}<{_clock(remaining)}]"

    def _epoch_format(self, epoch: int, logs: dict[str, Any]) -> str:
        """The epoch bar's whole line, as a tqdm ``bar_format`` whose only field is ``{bar}``."""
        head = f"epoch {epoch:{len(str(self.total))}d}/{self.total} " + self._times(epoch, time.perf_counter())
        if self.mode == "notebook":  # the widget draws its own bar
            return _escape(head + " " + " ".join(self.items(logs)))
        items, bar = layout(len(head), self.items(logs), terminal_width(self.stream))
        text = " ".join(items)
        if bar:
            head = head.replace(" [", " |\0| [", 1)
        return _escape(head + (" " + text if text else "")).replace("\0", "{bar}")

    # -- events ---------------------------------------------------------------
    #: An epoch shows a bar over its batches once it has run this long (seconds).
    BATCH_BAR_AFTER = 0.5

    def epoch_begin(self, epoch: int, n_batches: int) -> None:
        """Epoch ``epoch`` (from 1) starts; it has ``n_batches`` batches."""
        self._epoch_started = time.perf_counter()
        self._epoch_number, self._n_batches = epoch, n_batches

    def batch_end(self, done: int, loss: float) -> None:
        """``done`` batches of the current epoch are finished; the last one's loss is ``loss``.

        In bar mode an epoch that takes a while gets a transient bar over its
        batches; fast epochs never create one (it would only flicker).
        """
        bar = self._batch_bar
        if bar is None:
            if self.mode != "bar" or time.perf_counter() - self._epoch_started < self.BATCH_BAR_AFTER:
                return
            self._batch_bar = self._tqdm(
                total=self._n_batches, initial=done, file=self.stream, leave=False,
                bar_format=self._batch_format(loss), ncols=self._ncols(), mininterval=0.1)
            return
        bar.bar_format = self._batch_format(loss)
        bar.ncols = self._ncols()
        bar.update(1)

    def _batch_format(self, loss: float | None) -> str:
        head = f"  epoch {self._epoch_number}: {{n}}/{{total}} batches"
        fixed = len(f"  epoch {self._epoch_number}: {self._n_batches}/{self._n_batches} batches")
        items = [] if loss is None else [f"loss {format_value(loss)}"]
        items, bar = layout(fixed, items, terminal_width(self.stream))
        middle = " |{bar}|" if bar else ""
        return head + middle + (" " + _escape(" ".join(items)) if items else "")

    def batch_close(self) -> None:
        if self._batch_bar is not None:
            self._batch_bar.close()
            self._batch_bar = None

    def epoch_end(self, epoch: int, logs: dict[str, Any], last: bool = False) -> None:
        """Epoch ``epoch`` (from 1) finished with ``logs``; ``last`` when training ends after it."""
        self.epoch = epoch
        self.batch_close()
        if self.mode in ("bar", "notebook"):
            self._bar.bar_format = self._epoch_format(epoch, logs)
            self._bar.ncols = self._ncols()
            self._bar.update(epoch - self._bar.n)
        elif self.mode == "lines":
            now = time.perf_counter()
            self._tokens = min(float(LINE_BURST), self._tokens + (now - self._refill_at) * LINES_PER_SECOND)
            self._refill_at = now
            if self._tokens >= 1.0 or last or epoch == self.total:
                self._tokens = max(0.0, self._tokens - 1.0)
                self.write_line(self.line(epoch, logs, now))

    def line(self, epoch: int, logs: dict[str, Any], now: float | None = None) -> str:
        """``epoch  3/60  loss 0.3121  val_loss 0.3012  [00:01<00:19]``"""
        now = time.perf_counter() if now is None else now
        items = "  ".join(self.items(logs))
        return f"epoch {epoch:{len(str(self.total))}d}/{self.total}  {items}  {self._times(epoch, now)}"

    def write_line(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed log must not stop training

    def close(self) -> None:
        self.batch_close()
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "ProgressDisplay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
