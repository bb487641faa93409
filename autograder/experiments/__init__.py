"""The book's experiment helpers: data sets generated from a seed, and the small models the
chapters train. The chapters (and the benchmarks) import these; the graded parts' checks
may use their data generators, but nothing here judges an answer.

* :mod:`autograder.experiments.tasks`    - chapter 1's order task ("A before B?"), reused by 2.
* :mod:`autograder.experiments.cue_task` - the cue-to-blank language of chapters 4 and 5
  ("i'm hungry ... i want to go ___").
* :mod:`autograder.experiments.seq2seq`  - chapter 6: the reversal task, encoder-decoders with
  and without attention, linear recurrences by loop and by parallel scans.
"""
