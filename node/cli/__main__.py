"""``python -m node.cli``: the same as the ``evnet`` console script."""

from node.cli import main

raise SystemExit(main())
