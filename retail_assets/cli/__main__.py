"""``python -m retail_assets.cli``: the ``retail-assets`` command."""

import sys

from retail_assets.cli.parser import main

if __name__ == "__main__":
    sys.exit(main())
