// cancel tests: being written
