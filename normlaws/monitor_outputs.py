"""Where a monitor's records go: JSON Lines, TensorBoard scalars, a Lightning callback.

TensorBoard's writer is torch's ``torch.utils.tensorboard.SummaryWriter`` (it needs the ``tensorboard`` package);
the Lightning callback logs through ``LightningModule.log_dict``, so it reaches whatever logger the Trainer has.
Both are imported only when used (``pip install 'normlaws[monitor]'``).
"""
from __future__ import annotations

from pathlib import Path

from .errors import UsageError
from .records import append_record


class JsonLines:
    """Append each record as one line of ``path`` (atomically, fsynced: ``records.append_record``)."""

    def __init__(self, path):
        self.path = Path(path)

    def write(self, record: dict, flat: dict) -> None:
        """Append ``record`` (the nested form)."""
        append_record(self.path, record)


class TensorBoard:
    """Every number of a record as a TensorBoard scalar ``monitor/<watch>/<field>`` at the record's step."""

    def __init__(self, log_dir, prefix: str = "monitor"):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ModuleNotFoundError:
            raise UsageError("TensorBoard output needs tensorboard: pip install 'normlaws[monitor]'") from None
        self.writer, self.prefix = SummaryWriter(log_dir=str(log_dir)), prefix

    def write(self, record: dict, flat: dict) -> None:
        """Add the scalars (booleans as 0/1) and flush."""
        for tag, value in flat.items():
            self.writer.add_scalar(f"{self.prefix}/{tag}", float(value), record["step"])
        self.writer.flush()

    def close(self) -> None:
        """Close the event file."""
        self.writer.close()


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
    from .monitor import Monitor

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
