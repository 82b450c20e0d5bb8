# research-lab: every kernel's IPython. A kernel starts in its notebook's
# folder, which may be the folder every member writes: a module there (a
# numpy.py) must not shadow an import. Python itself adds no such folder
# (PYTHONSAFEPATH=1 in the servers' environment); IPython would, but for this.
c = get_config()  # noqa: F821
c.InteractiveShellApp.ignore_cwd = True
