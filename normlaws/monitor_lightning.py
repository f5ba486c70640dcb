"""A Lightning callback that monitors the invariant groups of the module being trained (``lightning`` is imported
when the callback is built: ``pip install 'normlaws[monitor]'``)."""
from __future__ import annotations

from .errors import UsageError
from .monitor import Monitor


def lightning_callback(every: int = 10, rule: str | None = None, **monitor_options):
    """A ``lightning.pytorch.Callback`` that builds a :class:`~normlaws.monitor.Monitor` of the module and its first
    optimizer at the first training batch (the audit runs on that batch's input), measures in Lightning's own hooks
    (``on_before_optimizer_step``: the gradients are there and the weights not yet stepped, since Lightning runs the
    forward and backward inside the optimizer's closure; ``on_train_batch_end``: stepped) and logs each record with
    ``log_dict`` (keys ``monitor/<watch>/<field>``). One optimizer step per batch (no gradient accumulation)."""
    try:
        from lightning.pytorch.callbacks import Callback
    except ModuleNotFoundError:
        raise UsageError("the Lightning callback needs lightning: pip install 'normlaws[monitor]'") from None

    class MonitorCallback(Callback):
        """Monitor the invariant groups of the LightningModule being trained."""

        def __init__(self):
            self.monitor = None
            self._logged = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if self.monitor is None:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                self.monitor = Monitor(pl_module, trainer.optimizers[0], x[:8], rule=rule, every=every,
                                       attach=False, **monitor_options)

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            self.monitor.before_step()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.monitor.after_step()
            last = self.monitor.last
            if last is not None and last["step"] != self._logged:
                self._logged = last["step"]
                pl_module.log_dict({f"monitor/{k}": v for k, v in self.monitor.flat().items()}, on_step=True,
                                   on_epoch=False)

        def on_train_end(self, trainer, pl_module):
            if self.monitor is not None:
                self.monitor.close()

    return MonitorCallback()
