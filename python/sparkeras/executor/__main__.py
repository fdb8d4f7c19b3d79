"""`python -m sparkeras.executor`: a worker started by the JVM (see sparkeras.executor.stdio)."""
from sparkeras.executor.stdio import main

main()
