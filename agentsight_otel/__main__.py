"""``python -m agentsight_otel``: the ``agentsight-otel`` command line."""

import sys

from agentsight_otel._cli import main

sys.exit(main())
