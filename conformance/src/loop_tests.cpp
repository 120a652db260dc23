// loop tests: being written
