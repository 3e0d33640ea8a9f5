import sys

from gateway_cli.main import main

sys.exit(main())
