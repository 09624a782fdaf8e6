"""The served process's loop (event_loop.py) wakes once for many calls from other threads,
and never sleeps through one: a lost wake-up would leave a request unanswered for good."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

from filedock.event_loop import WakeOnceLoop


class _CountingLoop(WakeOnceLoop):
    """Counts the wake-up bytes the loop reads from its pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.wake_bytes = 0

    def _process_self_data(self, data: bytes) -> None:
        self.wake_bytes += data.count(0)
        super()._process_self_data(data)  # type: ignore[misc]


def test_every_call_from_another_thread_wakes_a_sleeping_loop() -> None:
    # Ping-pong: each call is made while the loop sleeps in select with nothing else to do
    # (no timers), so a call whose wake-up was skipped would hang here until the timeout.
    async def main() -> int:
        loop = asyncio.get_running_loop()
        rounds = 2000
        answered = threading.Semaphore(0)
        seen = 0

        def on_loop() -> None:
            nonlocal seen
            seen += 1
            answered.release()

        def caller() -> None:
            for _ in range(rounds):
                loop.call_soon_threadsafe(on_loop)
                if not answered.acquire(timeout=5):
                    return

        thread = threading.Thread(target=caller)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.01)
        return seen

    with asyncio.Runner(loop_factory=WakeOnceLoop) as runner:
        assert runner.run(asyncio.wait_for(main(), 60)) == 2000


def test_calls_racing_from_many_threads_all_run() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        total, threads_count, calls = 0, 8, 5000

        def count() -> None:
            nonlocal total
            total += 1
            if total == threads_count * calls:
                done.set()

        def caller() -> None:
            for n in range(calls):
                loop.call_soon_threadsafe(count)
                if n % 97 == 0:
                    time.sleep(0.0005)  # let the loop drain and sleep again in between

        threads = [threading.Thread(target=caller) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        await asyncio.wait_for(done.wait(), 30)
        for thread in threads:
            thread.join()
        return total

    with asyncio.Runner(loop_factory=WakeOnceLoop) as runner:
        assert runner.run(main()) == 8 * 5000


def test_calls_made_while_the_loop_is_busy_share_one_wake_up() -> None:
    async def main(loop: _CountingLoop) -> tuple[int, int]:
        ran = 0

        def one() -> None:
            nonlocal ran
            ran += 1

        def caller() -> None:
            for _ in range(100):
                loop.call_soon_threadsafe(one)

        await asyncio.sleep(0.05)  # the start-up's own wake-ups are read
        before = loop.wake_bytes
        thread = threading.Thread(target=caller)
        thread.start()
        thread.join()  # the loop is held here (a blocking call): every call waits for it
        while ran < 100:
            await asyncio.sleep(0.01)
        return ran, loop.wake_bytes - before

    loop = _CountingLoop()
    try:
        ran, wake_bytes = loop.run_until_complete(main(loop))
    finally:
        loop.close()
    assert ran == 100
    assert wake_bytes == 1  # asyncio's own loop writes (and reads) 100


def test_signals_still_reach_the_loop() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        received = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, received.set)
        try:
            # A wake-up from another thread pending at the same moment must not hide it.
            loop.call_soon_threadsafe(lambda: None)
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(received.wait(), 5)
            return received.is_set()
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    with asyncio.Runner(loop_factory=WakeOnceLoop) as runner:
        assert runner.run(main())
