"""Entry point of `python -m imochain.gpucheck`."""

import sys

from . import main

sys.exit(main())
