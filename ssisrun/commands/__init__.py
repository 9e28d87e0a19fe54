"""One module per ``ssisrun`` command. These, and ``ssisrun.cli``, are the only
modules that import Click or print."""
