"""The course's command line: ``python -m utils COMMAND`` (run from the course's root folder).

::

    python -m utils list                      # datasets, files, whether they are present, reference folders
    python -m utils verify                    # check every file against the manifest (sha256)
    python -m utils sync [--check]            # write the toc, tables, map and footers from book/course.yml
    python -m utils generate SAMPLE [--events N] [--seed S] [--workers W] [--shard K/N]
    python -m utils merge SAMPLE [--events N] [--seed S]
    python -m utils book-cache [--execute]    # clear the book's execution cache if utils/ or data/ changed;
                                              # --execute: then run every notebook it lacks (make book)
    python -m utils student [--branch B] [--run]  # the student edition into _build/student (make student)
    python -m utils repository                # after changing repository in _config.yml: the notebooks follow
    python -m utils benchmark [NOTEBOOK ...]  # full mode, timed; book/benchmark.json (make benchmark)

``generate`` and ``merge`` need ``pip install -e ".[generate]"`` (Pythia 8 and FastJet); see
:mod:`utils.tooling.generate`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import data, storage
from . import generate


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes K/N, e.g. 3/10; got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard K/N needs 1 <= K <= N; got {text!r}")
    return k, n


def main(argv=None, prog: str = "python -m utils") -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="datasets, their files and whether they are present")
    sub.add_parser("verify", help="check every data file against the manifest")
    cache = sub.add_parser("book-cache", help="clear the book's execution cache when utils/ or data/ changed")
    cache.add_argument("--cache-dir", type=Path, default=None, help="default: _build/.jupyter_cache")
    cache.add_argument("--execute", action="store_true",
                       help="then execute every notebook the cache lacks (what `make book` renders)")
    cache.add_argument("--workers", type=int, default=2,
                       help="notebooks run at the same time (default 2, for 2 cores; one thread each)")
    student = sub.add_parser("student", help="write the student edition of the notebooks (solutions removed)")
    student.add_argument("--out", type=Path, default=None, help="default: _build/student")
    student.add_argument("--branch", default="student", help="branch the edition is published on (Colab links)")
    student.add_argument("--run", action="store_true",
                         help="then run it: only the exercise cells may fail (set COURSE_FAST=1 for speed)")
    sub.add_parser("repository", help="point the notebooks' Colab links and first cells at _config.yml's repository")
    sync = sub.add_parser("sync", help="write _toc.yml, the README and intro tables, the course map and the "
                          "notebooks' navigation footers from book/course.yml")
    sync.add_argument("--check", action="store_true", help="write nothing; list what is out of date (exit 1 if any)")
    bench = sub.add_parser("benchmark", help="run notebooks in full mode, timed (make benchmark)", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    for cmd in ("generate", "merge"):
        p = sub.add_parser(cmd, help="generate a sample (needs .[generate])" if cmd == "generate"
                           else "join the chunks of a sharded run into the sample file")
        p.add_argument("sample", help=f"one of: {', '.join(generate.SAMPLES)}")
        p.add_argument("--events", type=int, default=None, help="generated events (default: the course's)")
        p.add_argument("--seed", type=int, default=1, help="base seed (default 1)")
        p.add_argument("--cache", type=Path, default=None, help="folder for chunk files (default data/cache)")
        if cmd == "generate":
            p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
            p.add_argument("--shard", type=_parse_shard, default=None,
                           help="K/N: run only the K-th of N slices (a batch job); then `merge`")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["benchmark"]:  # its own options: python -m utils benchmark --help
        from . import benchmark

        return benchmark.main(argv[1:])
    args = parser.parse_args(argv)

    if args.command == "list":
        data.list_datasets()
        return 0
    if args.command == "verify":
        good = storage.verify()
        if not good:
            print("some files are missing or corrupted: `git checkout -- data/` restores the shipped ones, "
                  "`make data` regenerates them", file=sys.stderr)
        return 0 if good else 1
    if args.command == "sync":
        from . import course

        changed = course.sync(check=args.check)
        root = course.ROOT
        names = ", ".join(str(p.relative_to(root)) for p in changed) or "nothing"
        if args.check:
            print(f"out of date: {names}" + ("; run `python -m utils sync`" if changed else ""))
            return 1 if changed else 0
        print(f"wrote {names}")
        return 0
    if args.command == "book-cache":
        from . import execution

        cleared = execution.refresh_book_cache(args.cache_dir)
        print("cleared the book's execution cache: utils/ or data/ changed" if cleared
              else "the book's execution cache stays: nothing to clear")
        if not args.execute:
            return 0
        workers = args.workers
        os.environ.setdefault("COURSE_THREADS", "1")  # the kernels inherit it: one thread each
        print(f"running the notebooks the cache lacks, {workers} at a time with "
              f"{os.environ['COURSE_THREADS']} thread(s) each (--workers, COURSE_THREADS)")
        errors = execution.fill_book_cache(execution.course_notebooks(), args.cache_dir, workers=workers)
        for line in errors:
            print(f"FAILED {line}", file=sys.stderr)
        if errors:
            print("fix the notebooks above (run them in JupyterLab: `make lab`), then `make book` again",
                  file=sys.stderr)
        return 1 if errors else 0

    if args.command == "repository":
        from . import editions

        changed = editions.apply_repository_setting()
        url, branch = editions.repository_setting()
        print(f"{len(changed)} notebooks now point at {url} ({branch})")
        return 0
    if args.command == "student":
        from . import editions

        written = editions.write_student_edition(out_dir=args.out, branch=args.branch)
        print(f"wrote the student edition of {len(written)} notebooks into {written[0].parent}")
        if args.run:
            problems = editions.run_student_edition(written)
            for line in problems:
                print(f"PROBLEM {line}", file=sys.stderr)
            print("the student edition runs with only its exercise cells failing" if not problems
                  else f"{len(problems)} problems", file=sys.stderr if problems else sys.stdout)
            return 1 if problems else 0
        return 0

    gen = generate
    if args.sample not in gen.SAMPLES:
        parser.error(f"unknown sample {args.sample!r}; choose from {', '.join(gen.SAMPLES)}")
    events = args.events or gen.SAMPLES[args.sample]["default_events"]
    cache_dir = args.cache or gen.default_cache_dir()
    if args.command == "generate":
        gen.run_chunks(args.sample, events, args.seed, cache_dir, workers=args.workers, shard=args.shard or (1, 1))
        if args.shard and args.shard[1] > 1:
            print(f"shard {args.shard[0]}/{args.shard[1]} done; when all shards are, run "
                  f"`python -m utils merge {args.sample} --events {events} --seed {args.seed}`")
            return 0
    arrays, metadata = gen.merge_chunks(args.sample, events, args.seed, cache_dir)
    gen.write_sample(args.sample, arrays, metadata)
    return 0


if __name__ == "__main__":
    sys.exit(main())
