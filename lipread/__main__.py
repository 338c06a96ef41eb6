"""`python -m lipread <verb>`: the same as the installed `lipread` command."""
import sys

from lipread.cli.main import main

sys.exit(main())
