"""The one way a command-line tool reports a user's mistake: a message and exit status 2, no traceback.

Tracebacks are for bugs. Anything the user can fix (a bad argument, a missing file, a destination
that already exists, no network) is raised as UserError and printed by `run_main`.
"""
from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
  """A problem the user can fix; its message says what and, where possible, how."""


def run_main(main: Callable[[], int | None]) -> None:
  try: rc = main()
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    rc = 2
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    rc = 130
  sys.exit(rc or 0)
