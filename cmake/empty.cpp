// libdramatiq is the engine archive linked whole; CMake needs one source of its own.
