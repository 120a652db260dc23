// spill tests: being written
