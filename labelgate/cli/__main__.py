"""python -m labelgate.cli"""

import sys

from labelgate.cli import main

sys.exit(main())
