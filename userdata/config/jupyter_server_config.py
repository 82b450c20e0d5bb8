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
{{- if .IdleStopSeconds}}

# Idle stop (jupyterIdleStopMinutes): kernels and terminals idle this long are
# shut down (a running computation is not), and the server exits cleanly once
# nothing has happened for as long; jupyter.service then powers the instance off.
c.MappingKernelManager.cull_idle_timeout = {{.IdleStopSeconds}}
c.MappingKernelManager.cull_interval = 60
c.MappingKernelManager.cull_connected = True
c.MappingKernelManager.cull_busy = False
c.TerminalManager.cull_inactive_timeout = {{.IdleStopSeconds}}
c.TerminalManager.cull_interval = 60
c.ServerApp.shutdown_no_activity_timeout = {{.IdleStopSeconds}}
{{- end}}
