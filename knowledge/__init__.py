"""Knowledge base of the Hangzhou action plan: sources -> clauses -> FAQ entries.

Public entry points:
- ``knowledge.db``: engine / session factories (no I/O at import time), migrations.
- ``knowledge.build``: ``python -m knowledge.build`` builds or refreshes the database.
- ``knowledge.answering``: turns a resident's words into a cited answer.
"""
