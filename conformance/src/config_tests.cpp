// config tests: being written
