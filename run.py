"""crm-sim command line: ``python run.py run SCENARIO.yaml`` (see ``python run.py --help``)."""

import sys

from cli.main import main

if __name__ == "__main__":
    sys.exit(main())
