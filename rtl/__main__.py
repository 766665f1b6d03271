import sys

from rtl.cli import main

sys.exit(main())
