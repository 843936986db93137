"""The quiz's right letters, kept here (tests/ never reaches students; the practice questions have no hidden tests).
Shared by the quiz tests and the kit's scan, which must find no explanation of these answers in the kit."""

ANSWERS = {"q1": "C", "q2": "B", "q3": "D"}
