"""LLM-as-judge: a judge model grades outputs against a rubric (see :mod:`.judge.core`).

Parts: :mod:`.parsing` reads answers, :mod:`.panel` aggregates votes and pairwise orders,
:mod:`.criteria` holds built-in rubrics, :mod:`.calibration` checks a judge against labels.
"""
