"""Model-written code runs here only: a child process confined by the operating system (namespaces,
rlimits, Landlock, seccomp), with a verdict taken from evidence the code cannot forge."""
