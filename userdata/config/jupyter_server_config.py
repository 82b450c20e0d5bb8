# research-lab: Jupyter Server configuration, written by cloud-init.
# The password is stored only as the hash computed at deploy time.
c = get_config()  # noqa: F821
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = {{.Ports.Jupyter}}
c.ServerApp.open_browser = False
c.ServerApp.allow_remote_access = True
c.ServerApp.root_dir = "{{.NotebookDir}}"
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.hashed_password = "{{.JupyterPasswordHash}}"
c.PasswordIdentityProvider.password_required = True
c.PasswordIdentityProvider.allow_password_change = False
