// metric tests: being written
