"""`python -m scripts.stack <command>`."""

import sys

from scripts.stack.commands import main

if __name__ == "__main__":
    sys.exit(main())
