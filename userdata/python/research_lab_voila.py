# research-lab: Voila's kernel manager with a limit on live kernels.
# voila.service names it (--VoilaConfiguration.multi_kernel_manager_class)
# with max_kernels, the live bound userdata.go derives from the instance's
# memory. Past it a render is refused with 503, which Nginx turns into a
# redirect to the notebook's static page. Voila has no such limit of its own
# (github.com/voila-dashboards/voila/issues/617); a kernel manager that
# refuses to start more is what Jupyter's maintainers suggest
# (github.com/jupyter/notebook/issues/615).
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer


class LiveKernelLimit(AsyncMappingKernelManager):
    max_kernels = Integer(0, config=True, help="The most kernels alive at once; past it a new one is refused (503).")

    _starting = 0  # starts under way, which the manager may not list yet

    async def start_kernel(self, *args, kernel_id=None, **kwargs):
        if kernel_id is not None and kernel_id in self:  # a restart
            return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
        # No await between the count and the claim: two renders at once
        # cannot both take the last place.
        if len(self) + self._starting >= self.max_kernels:
            self.log.warning("research-lab: %d kernels alive, the most there is memory for: a render refused", len(self))
            raise web.HTTPError(503, "the live view is full")
        self._starting += 1
        try:
            return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
        finally:
            self._starting -= 1
