"""Running a build: the build command, rebuilds after a settings change, stats, and the executors."""
