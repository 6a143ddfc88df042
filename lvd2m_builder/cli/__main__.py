"""``python -m lvd2m_builder.cli``."""

import sys

from lvd2m_builder.cli import main

sys.exit(main())
