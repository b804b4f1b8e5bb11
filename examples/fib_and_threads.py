"""A small program to try viztracer on: recursion, a method, and two threads.

    viztracer examples/fib_and_threads.py
    vizviewer result.json

The timeline shows the main thread computing Fibonacci numbers recursively and through a class,
and two worker threads that sleep and compute at the same time.
"""
import threading
import time


def fib(n: int) -> int:
    """The n-th Fibonacci number, the slow recursive way: every call shows on the timeline."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Memo:
    """Fibonacci numbers with a cache, so the trace shows few calls next to fib's many."""

    def __init__(self) -> None:
        self.cache = {0: 0, 1: 1}

    def fib(self, n: int) -> int:
        if n not in self.cache:
            self.cache[n] = self.fib(n - 1) + self.fib(n - 2)
        return self.cache[n]


def worker(name: str, delay: float, results: dict[str, int]) -> None:
    """Sleep (idle time on the thread's track), then compute."""
    time.sleep(delay)
    results[name] = fib(12)


def main() -> None:
    results: dict[str, int] = {}
    threads = [threading.Thread(target=worker, args=(f"worker-{i}", 0.01 * (i + 1), results),
                                name=f"worker-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    print("fib(15) =", fib(15))
    print("Memo().fib(50) =", Memo().fib(50))
    for thread in threads:
        thread.join()
    print("workers:", dict(sorted(results.items())))


if __name__ == "__main__":
    main()
