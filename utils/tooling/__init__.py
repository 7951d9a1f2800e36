"""The machinery that builds the course, not part of what students import.

Imports run one way: these modules use the course's modules (:mod:`utils.data`, :mod:`utils.storage`,
:mod:`utils.jets`, ...), and no course module imports them.

- :mod:`utils.tooling.cli`: ``python -m utils COMMAND`` (list, verify, generate, merge, sync, book-cache,
  student, repository, benchmark)
- :mod:`utils.tooling.course`: the course's structure from ``book/course.yml``, and the files written from it
  (``python -m utils sync``)
- :mod:`utils.tooling.execution`: executing notebooks outside a browser; the book's execution cache
- :mod:`utils.tooling.editions`: the student edition and the repository setting of the Colab links
- :mod:`utils.tooling.benchmark`: every notebook in full mode, timed (``make benchmark``)
- :mod:`utils.tooling.generate`: Pythia 8 + FastJet generation of the shipped samples (``make data``)
"""
