"""For the reliability tests' child processes: a frame-store reader slowed so a kill or a race lands mid-build."""

from __future__ import annotations

import time


def slow_store_reader(delay_s: float) -> None:
    """Patch this process's frame-store builder: its reader sleeps ``delay_s`` per view after each batch."""
    import noscope_core.video.framestore as framestore

    choose = framestore.choose_reader

    class SlowReader:  # the store's reader shrinks while it decodes: slow each batch, per view, as before
        def __init__(self, inner):
            self.inner, self.choice = inner, inner.choice

        def iter_views(self, *a, **k):
            for batch in self.inner.iter_views(*a, **k):
                time.sleep(delay_s * len(batch.small))
                yield batch

    framestore.choose_reader = lambda path, reader="auto": SlowReader(choose(path, reader))
