"""Call-heavy programs to measure tracing overhead on; each runs in tens of milliseconds."""
import random


def fib(n=24):
    def f(k):
        return k if k < 2 else f(k - 1) + f(k - 2)
    return f(n)


def hanoi(n=15):
    moved = []

    def move(k, src, via, dst):
        if k:
            move(k - 1, src, dst, via)
            moved.append((src, dst))
            move(k - 1, via, src, dst)
    move(n, "a", "b", "c")
    return len(moved)


def qsort(n=30000):
    rng = random.Random(7)
    values = [rng.random() for _ in range(n)]

    def sort(xs):
        if len(xs) < 2:
            return xs
        pivot, rest = xs[0], xs[1:]
        return sort([x for x in rest if x < pivot]) + [pivot] + sort([x for x in rest if x >= pivot])
    return len(sort(values))


def objects(n=50000):
    class Point:
        __slots__ = ("x", "y")

        def __init__(self, x, y):
            self.x, self.y = x, y

        def shifted(self, other):
            return Point(self.x + other.x, self.y + other.y)
    p = Point(0, 0)
    for i in range(n):
        p = p.shifted(Point(i, 1))
    return p.x


def cfuncs(n=120000):
    total = []
    for i in range(n):
        total.append(abs(hash(i)))
    return len(total)


ALL = {f.__name__: f for f in (fib, hanoi, qsort, objects, cfuncs)}
