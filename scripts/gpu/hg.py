import sys

from hepgen.cli import main

sys.exit(main())
