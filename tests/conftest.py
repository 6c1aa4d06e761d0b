import signal

import numpy as np
import pytest

# A test run started in the background of a non-interactive shell (`pytest &`)
# inherits SIGINT as ignored, and so would every minidl subprocess that the
# tests interrupt with Ctrl-C: restore Python's own handler, which children
# then start with as the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
