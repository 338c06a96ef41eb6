"""`lipread <verb>`: one module a verb (its docstring's first line is its help), the
dispatcher in main.py, the shared convention and flags in common.py."""
