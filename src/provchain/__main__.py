"""``python -m provchain``: the same command line as the ``provchain`` script."""

from provchain.cli import main

if __name__ == "__main__":
    main()
