// life tests: being written
