"""``python -m jacobian_calc``: the same as the ``jacobian-calc`` command."""

from .front.cli import main

raise SystemExit(main())
