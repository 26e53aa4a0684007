#!/usr/bin/env python3
"""Runs the workspace's tests with cargo-nextest in a shuffled order.

nextest runs every test in a process of its own but has no shuffled order of its own, so a
test that passes only after another one left something behind (a table, a file, a port)
could go unnoticed. This script lists every test, shuffles the list with a seed, cuts it
into chunks and runs the chunks one after the other, each a nextest run of exactly its
tests: which tests run together, and in which order the chunks come, change with the seed.

    python3 scripts/nextest_shuffled.py [--seed N] [--chunks K]

The seed is printed; LIENTHONG_TEST_SEED=N (or --seed N) replays an order. Every chunk runs
whatever failed before it; the exit status is non-zero when any test failed.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys


def listed_tests():
    out = subprocess.run(
        ["cargo", "nextest", "list", "--workspace", "--profile", "ci", "--message-format", "json"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    suites = json.loads(out)["rust-suites"]
    tests, ignored = [], 0
    for binary_id, suite in sorted(suites.items()):
        for name, case in sorted(suite["testcases"].items()):
            if case["ignored"]:
                ignored += 1
            elif case["filter-match"]["status"] == "matches":
                tests.append((binary_id, name))
    return tests, ignored


def expression(chunk):
    return " | ".join(f"(binary_id(={b}) & test(={n}))" for b, n in chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--chunks", type=int, default=6)
    args = parser.parse_args()
    seed = args.seed
    if seed is None:
        seed = int(os.environ.get("LIENTHONG_TEST_SEED") or random.SystemRandom().randrange(1 << 31))
    tests, ignored = listed_tests()
    random.Random(seed).shuffle(tests)
    k = max(1, min(args.chunks, len(tests)))
    chunks = [tests[i::k] for i in range(k)]
    print(f"[test] shuffled order: seed {seed} (LIENTHONG_TEST_SEED={seed} replays it), "
          f"{len(tests)} tests in {k} chunks", flush=True)
    failed_chunks = 0
    # nextest counts the tests a chunk filters out as skipped: only passed and failed are
    # taken from it; skipped are the tests marked #[ignore].
    totals = {"passed": 0, "failed": 0}
    for i, chunk in enumerate(chunks, 1):
        print(f"[test] chunk {i}/{k}: {len(chunk)} tests", flush=True)
        proc = subprocess.Popen(
            ["cargo", "nextest", "run", "--workspace", "--profile", "ci", "--no-fail-fast",
             "-E", expression(chunk)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ran = 0
        chunk_counts = {"passed": 0, "failed": 0}
        for line in proc.stdout:
            if "Summary [" not in line:
                sys.stdout.write(line)
                continue
            # nextest's summary calls the other chunks' tests "skipped": it is replaced by
            # this chunk's own count.
            for count, what in re.findall(r"(\d+) (passed|failed)", line):
                chunk_counts[what] += int(count)
                totals[what] += int(count)
            m = re.search(r"(\d+) tests? run", line)
            ran += int(m.group(1)) if m else 0
        print(f"[test] chunk {i}/{k} done: {chunk_counts['passed']} passed, "
              f"{chunk_counts['failed']} failed", flush=True)
        if proc.wait() != 0:
            failed_chunks += 1
        if ran != len(chunk):
            print(f"[test] chunk {i}: {ran} tests ran, {len(chunk)} expected", flush=True)
            failed_chunks += 1
    print(f"[test] shuffled run, seed {seed}: {totals['passed']} passed, {totals['failed']} failed, "
          f"{ignored} skipped", flush=True)
    return 1 if failed_chunks else 0


if __name__ == "__main__":
    sys.exit(main())
