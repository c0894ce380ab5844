"""The test suite. Imported before tests/conftest.py, so what is set here holds for every import
the run makes, in this process, in the xdist workers and in the processes the tests start."""

import os
import sys

# Where the environment sets PYTHONDONTWRITEBYTECODE (it does on the machine the times in
# docs/testing.md were measured on), each xdist worker and each `incident-bot` process a test
# starts would compile every module of the bot and rewrite every test module's asserts again. The
# run writes bytecode as Python does by default, into the __pycache__ folders .gitignore leaves out.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
