import sys

from optarena.cli import main

if __name__ == "__main__":
    sys.exit(main())
