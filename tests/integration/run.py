"""Run the integration tests (unittest discovery, verbose) and print the
twenty slowest with their times, so the suite's time budget (docs/testing.md:
`make test` under 40 minutes on two cores) stays visible.  Python 3.11 has no
--durations of its own.

Usage: python3 -m tests.integration.run [TEST_NAME_PREFIX...]
"""
import sys
import time
import unittest


class TimedResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.times = []
        self._started = {}

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        t0 = self._started.pop(test.id(), None)
        if t0 is not None:
            self.times.append((time.monotonic() - t0, test.id()))


def main(argv):
    suite = unittest.defaultTestLoader.discover("tests/integration", top_level_dir=".")
    if argv:
        def keep(s):
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    yield from keep(t)
                elif any(t.id().startswith(p) for p in argv):
                    yield t
        suite = unittest.TestSuite(list(keep(suite)))
    runner = unittest.TextTestRunner(verbosity=2, resultclass=TimedResult, stream=sys.stdout)
    result = runner.run(suite)
    total = sum(t for t, _ in result.times)
    print("\nslowest tests (of %.0f s in tests):" % total)
    for t, name in sorted(result.times, reverse=True)[:20]:
        print("  %6.1f s  %s" % (t, name))
    sys.stdout.flush()
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
