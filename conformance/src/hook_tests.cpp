// hook tests: being written
