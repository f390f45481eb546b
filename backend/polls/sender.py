"""(Being built.)"""

from __future__ import annotations

import threading

from minting.worker import LoopThread, start_loop


class AnnouncementSender:
    def __init__(self, runtime: object) -> None:
        self.runtime = runtime

    def run(self, stop: threading.Event) -> None:
        stop.wait()

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "sender")
