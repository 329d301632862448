"""``python -m rpm_engine``: the command line. Its commands are composed in ``rpm_service.cli`` (the engine's
generate, train and reproduce, and the service's sweep); this entry point is the only place the name is reached
from the engine's package, and it is a program, not a module anything imports."""

import sys

from rpm_service.cli import main

sys.exit(main())
