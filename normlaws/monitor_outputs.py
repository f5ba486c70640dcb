"""Where a monitor's records go: JSON Lines, TensorBoard scalars (a Lightning callback: ``monitor_lightning``).

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
