// iso tests: being written
