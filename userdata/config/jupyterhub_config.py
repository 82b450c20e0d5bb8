# research-lab: JupyterHub for a team, written by cloud-init. Root's alone.
# Each member logs in with their own password (PAM, against the hashes the
# members' sync sets), as their own Unix user, to their own server.
import grp
import math
import os
import time

import jupyterhub
from jupyterhub.auth import PAMAuthenticator
from tornado import web

c = get_config()  # noqa: F821

# The hub answers on the Jupyter port (its group admits the VPN only); its
# API and its proxy's stay on loopback.
c.JupyterHub.bind_url = "http://:{{.Ports.Jupyter}}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{{.Hub.APIPort}}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{{.Hub.ProxyAPIPort}}"
c.ConfigurableHTTPProxy.command = ["{{.Hub.ProxyNode}}", "{{.Hub.ProxyDir}}/node_modules/configurable-http-proxy/bin/configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = "{{.Hub.StateDir}}/proxy.pid"
c.JupyterHub.cookie_secret_file = "{{.Hub.StateDir}}/cookie_secret"
c.JupyterHub.db_url = "sqlite:///{{.Hub.StateDir}}/jupyterhub.sqlite"

# Logins: PAM with /etc/pam.d/jupyterhub (pam_unix only), no sessions.
# Whoever is in the team's group may log in, so a new member needs no
# restart; a removed member leaves it and is locked. JupyterHub 3 lets in
# exactly the group when allowed_groups is set; 5 also lets in allowed_users
# and, with allow_existing_users, everyone it has seen: neither is wanted.
#
# A name with {{.Hub.Logins.Failures}} failed logins in the last {{.Hub.Logins.WindowSeconds}} seconds is refused, PAM not
# asked, until the oldest of them leaves the window (429, saying when to try
# again); its login clears them. Per name (the hub's, lower case), not per
# address: every member comes from the VPN server's. An attempt counts before
# PAM answers, so attempts at once cannot pass the count; a refused one does
# not count; no session ends.
class ThrottledPAMAuthenticator(PAMAuthenticator):
    failures, window = {{.Hub.Logins.Failures}}, {{.Hub.Logins.WindowSeconds}}
    attempts = {}  # name: when its failed (or pending) attempts began

    async def authenticate(self, handler, data):
        name, now = self.normalize_username(data["username"]), time.monotonic()
        # What left the window is forgotten, for every name tried.
        self.attempts = {n: kept for n, ts in self.attempts.items() if (kept := [t for t in ts if t > now - self.window])}
        times = self.attempts.setdefault(name, [])
        if len(times) >= self.failures:
            wait = math.ceil(times[-self.failures] + self.window - now)
            self.log.warning("Login of %s refused for %ds: %d failed logins in %ds", name, wait, len(times), self.window)
            raise web.HTTPError(429, "Too many failed logins for %s: try again in %d seconds.", name, wait)
        times.append(now)
        user = await super().authenticate(handler, data)
        if user is not None:
            self.attempts.pop(name, None)
        return user


c.JupyterHub.authenticator_class = ThrottledPAMAuthenticator
c.PAMAuthenticator.service = "jupyterhub"
c.PAMAuthenticator.open_sessions = False
c.LocalAuthenticator.create_system_users = False
c.LocalAuthenticator.allowed_groups = {"{{.Hub.TeamGroup}}"}
c.Authenticator.admin_users = set()
c.Authenticator.delete_invalid_users = True
if jupyterhub.version_info >= (5,):
    c.Authenticator.allow_existing_users = False


def only_members(spawner):
    """A session opened before its member was removed starts nothing."""
    if spawner.user.name not in grp.getgrnam("{{.Hub.TeamGroup}}").gr_mem:
        raise PermissionError(f"{spawner.user.name} is not a member of this lab")


c.Spawner.pre_spawn_hook = only_members

# The members' sync removes a member through the API: their server stops,
# their sessions end. Its token is root's alone.
with open("{{.Hub.StateDir}}/members-api-token") as f:
    c.JupyterHub.services = [{"name": "research-lab-members", "api_token": f.read().strip()}]
c.JupyterHub.load_roles = [
    {"name": "research-lab-members", "scopes": ["admin:users", "admin:servers"], "services": ["research-lab-members"]}
]

# Each member's server: a systemd unit as the member, in their notebook
# folder, its memory capped by the kernel (kernels included). Members' own
# packages (%pip install) go to their user site: the venv is root's.
c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.JupyterHub.cleanup_servers = False  # a hub restart leaves the members' work running
c.Spawner.cmd = ["{{.Hub.Venv}}/bin/jupyterhub-singleuser"]
c.Spawner.notebook_dir = "~/{{.Hub.MemberNotebooks}}"
c.Spawner.default_url = "/tree"
# Kernels start in their notebook's folder, the shared one too: Python adds
# no folder to sys.path (neither would IPython: /etc/ipython), so that no
# member's file there (ipykernel_launcher.py, numpy.py) runs as whoever opens
# a notebook beside it.
c.Spawner.environment = {"PYTHONSAFEPATH": "1"}
c.Spawner.mem_limit = {{.Hub.MemberMemoryMiB}} * 1024 * 1024  # memberMemoryMiB
# A member's idle server stops itself: idle kernels and terminals are shut
# down (a running computation is not), then the server exits.
c.Spawner.args = [
    "--ServerApp.shutdown_no_activity_timeout={{.Hub.IdleSeconds}}",
    "--MappingKernelManager.cull_idle_timeout={{.Hub.IdleSeconds}}",
    "--MappingKernelManager.cull_interval=60",
    "--MappingKernelManager.cull_connected=True",
    "--MappingKernelManager.cull_busy=False",
    "--TerminalManager.cull_inactive_timeout={{.Hub.IdleSeconds}}",
    "--TerminalManager.cull_interval=60",
]
c.SystemdSpawner.unit_name_template = "jupyter-{USERNAME}-singleuser"
c.SystemdSpawner.slice = "{{.Hub.Slice}}"
c.SystemdSpawner.disable_user_sudo = True
c.SystemdSpawner.isolate_tmp = True
c.SystemdSpawner.isolate_devices = True
# Everything read-only (the API file systems apart) but the member's home and
# the shared folder.
c.SystemdSpawner.readwrite_paths = ["{{.Hub.MembersHome}}/{USERNAME}", "{{.Hub.SharedDir}}"]
c.SystemdSpawner.unit_extra_properties = {
    # The metadata service (the instance's credentials) is refused by the
    # guard's rules, and by the cgroup too should the rules be flushed; the
    # server stops with the guard.
    "IPAddressDeny": "{{.IMDSIPv4}} {{.IMDSIPv6}}",
    "BindsTo": "{{.IMDSGuardUnit}}",
    "After": "{{.IMDSGuardUnit}}",
    # Other members' processes (their command lines, their environment) unseen.
    "ProtectProc": "invisible",
    "ProtectSystem": "strict",
    # Nothing a member saves is the world's; in shared/ the shared group
    # (the other members, the sync) may read and write it.
    "UMask": "0007",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
}
