// run tests: being written
